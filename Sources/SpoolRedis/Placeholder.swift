public enum SpoolRedisPlaceholder {}
