public enum SpoolPlaceholder {}
