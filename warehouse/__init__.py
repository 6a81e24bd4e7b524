"""DuckDB storage: owns the schema and every SQL statement."""
