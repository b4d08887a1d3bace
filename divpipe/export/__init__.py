"""`python -m divpipe export`: the database as a Hive-partitioned Parquet lake, on disk or S3.

Modules, in the order an export uses them:

- `datasets`  which tables are exported, under which name, partitioned how;
- `pgarrow`   PostgreSQL rows to Arrow tables with exact types (COPY through psycopg2);
- `plan`      partition fingerprints against the bookmark: what to rewrite;
- `write`     Parquet files under temporary names, committed by rename;
- `manifest`  `_manifest.json`: every file with rows, size and checksum;
- `s3`        the S3-compatible target: client, preflight, remote manifest;
- `upload`    parallel, bounded, verified, retried uploads;
- `progress`  a bar on a terminal, plain lines in logs;
- `verify`    `--verify`: a lake checked against its manifest;
- `lock`      one export per lake at a time (an advisory lock);
- `job`       the whole export, returning its summary; `cli` parses arguments.

Library choices (why these, see docs/export.md for the long form):

- pyarrow writes the Parquet files: it is the reference implementation,
  keeps NUMERIC as decimal128(p, s) and DATE as date32, and its CSV reader
  parses PostgreSQL's COPY output straight into those types.
- psycopg2's COPY ... TO STDOUT (CSV) is the PostgreSQL-to-Arrow path: the
  project already depends on psycopg2-binary, COPY is the fastest way out of
  PostgreSQL, and with an explicit Arrow schema no value goes through a
  Python float. ADBC's driver returns NUMERIC as strings and needs libpq
  bindings of its own; connectorx turns NUMERIC into float64 by default.
- boto3's transfer manager (s3transfer) uploads: multipart above a
  threshold, streaming from disk in fixed-size chunks (bounded memory), and
  it speaks to any S3-compatible endpoint through the standard AWS
  credential chain. We run one transfer per worker thread ourselves so the
  number of files in flight is bounded and retries use divpipe's policy.
"""
