"""Reports of a quality check (``conveyor report``): a pull-request comment or an HTML page.

The entry point is :func:`conveyor.reports.render.write_report`. It renders only from a
:class:`~conveyor.evaluation.results.CheckResult` and the predictions beside it, so a report
can be rebuilt for any past check. The modules, top-down::

    render      write_report: draws the plots, builds the view, writes the files
    content     the report as formatted rows of text (ReportView)
    evidence    a gate's evidence dict in one line
    formatting  numbers: 4 significant figures, p-values, ms, KB/MB
    markdown    report.md (templates/report.md.j2): marker, folding, size cap
    html        report.html (templates/report.html.j2): self-contained, escaped
    plots       which plots apply, PNG bytes (matplotlib imported lazily)
    charts      one function per plot
    curves      ROC and precision-recall in numpy

Nothing heavy is imported here.
"""
