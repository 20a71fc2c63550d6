"""The contracts between the stages: what is in the lake, under which key, in which format.

One owner per contract (dlt's ``load_package.py`` habit: every name has its builder and
its parser side by side). Every stage, ``ops`` and ``local`` read and write the lake
through these modules; no other module spells a key or indexes a document by hand.

* ``lake.keys``: the key of every object (data, recent keys, commit records, Parquet
  tables, snapshots, quarantine), builders and ``parse_key``; run and attempt ids.
* ``lake.manifest``: the ingestion manifest, ``IngestManifest`` (``to_doc``/``from_doc``).
* ``lake.commit_record``: the transform commit record, ``CommitRecord`` (``to_doc``/``from_doc``).
* ``lake.quarantine``: the quarantine record, ``BadRow``, and its line format.
* ``lake.ssm``: the names of ingestion's SSM parameters.
* ``lake.errors``: ``ManifestError``, ``CommitRecordError`` (fatal).

Shipped in every Lambda zip, next to ``common``; it imports only ``common``.
"""
