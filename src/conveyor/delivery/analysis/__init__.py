"""Canary analysis: does a new model version behave like the stable one on the same traffic?

Pure statistics (numpy and scipy), no store and no HTTP. Each module judges one kind of
metric and returns a frozen result carrying the statistic, its threshold, the sample size,
the minimum sample, the decision (``pass`` | ``fail`` | ``inconclusive``) and a sentence:

- :mod:`.counts`: error counts, an always-valid sequential test (Lindon & Malek, 2022);
- :mod:`.latency`: latency distributions, always-valid and slower-only;
- :mod:`.mann_whitney`: Kayenta's Mann-Whitney judge with a Hodges-Lehmann interval;
- :mod:`.predictions`: PSI and Jensen-Shannon of the predictions, noise-aware;
- :mod:`.labels`: accuracy from delayed labels, and agreement with the primary in shadow;
- :mod:`.power`: the minimum sample and the power it gives;
- :mod:`.judge`: one verdict from the metrics, and Flagger- and Kayenta-style baselines.

The shared likelihood and its derivation are in :mod:`.mixture`.
"""
