"""Local tooling, not shipped to Lambda: the throwaway PostgreSQL + moto stack, the
totesys generator and change simulator, warehouse migrations, and the local runner."""
