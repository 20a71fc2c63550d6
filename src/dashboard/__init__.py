"""The analytics app (``totes dashboard``): pages that query the warehouse live, as the
read-only ``warehouse_reader`` role. Imported only by the CLI; it imports ``common``.
Design, pages and measurements: docs/dashboard.md."""
