"""The layer everything else stands on: the index's on-disk format, and the vocabulary both sides share.

It owns every file and collection under `RAG_DATA_DIR` (store/files.py lists them): the records and their
ids (records.py), the sentence splitter that defines them (sentences.py), the docstore (docstore.py), the
chunk table with its BM25 index (bm25.py), the Chroma collections (chroma.py), the embedding model that
fills them (embeddings.py), the read-only view answering works on (corpus.py), and the manifest of what was
written with the checks made against it when the index is opened (manifest.py, integrity.py); plus the settings,
the user-facing errors and the text analysis (terms, numbers, names) that ingestion and answering share.

Imports flow one way: store ← ingest ← rag ← ui, eval ← app ← cli. Nothing here imports them.
"""
