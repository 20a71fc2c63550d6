"""The development stack, not shipped to Lambda: the throwaway PostgreSQL + moto servers,
the Terraform applied to moto, the totesys generator and change simulator, warehouse
migrations. Imports neither ``ops`` nor ``cli`` (docs/architecture.md, "Packages")."""
