"""The local web workspace (``lakeinfer ui``): SQL editor, live AI progress and cost with cancel,
catalog browser, query history, endpoints, job runs, streams and reports.

Importing this package is cheap; the web server (aiohttp.web, as ``lakeinfer serve``) loads in
:mod:`lakeinfer.ui.app` and :mod:`lakeinfer.ui.server`.
"""
