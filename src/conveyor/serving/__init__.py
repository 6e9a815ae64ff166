"""The serving gateway: loaded model versions, request protocols, and the ASGI app.

::

    cli/serve_cmds.py ─► pool.ModelPool   (model versions loaded from the registry)
                      └► app.create_app   (Starlette routes, one per protocol endpoint)
                             ├► protocols (request bodies ⇄ model inputs and outputs)
                             │    ├► inputs (rows, records, columns ⇄ the signature's dtypes)
                             │    └► binary (Triton's binary tensor extension)
                             └► batching.Batcher  (concurrent requests share a model call)
                      └► deployments.build_observers
                             ├► predlog.PredictionLog (Parquet per model per window, in the store)
                             └► shadow.ShadowRunner   (copies to shadow versions, compared, logged)
    packaging.build_bundle ─► bundle.serve_bundle (one model, no store: conveyor package)
"""
