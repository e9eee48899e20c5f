"""The warehouse: connections (DuckDB, Postgres, Spark behind one interface), the dbt runner,
the project's paths, and the raw-file checks run before dbt loads the seeds. Importing the
package imports nothing heavy; each module loads its driver when used."""
