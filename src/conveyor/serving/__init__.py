"""The serving gateway: loaded model versions, request protocols, and the ASGI app.

::

    cli/serve_cmds.py ─► pool.ModelPool   (model versions loaded from the registry)
                      └► app.create_app   (Starlette routes, one per protocol endpoint)
                             └► protocols (request bodies ⇄ model inputs and outputs)
                                  └► inputs (rows, records, columns ⇄ the signature's dtypes)
                      └► deployments.build_observers
                             ├► predlog.PredictionLog (Parquet per model per window, in the store)
                             └► shadow.ShadowRunner   (copies to shadow versions, compared, logged)
"""
