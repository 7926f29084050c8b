public enum SpoolTestingPlaceholder {}
