"""The service layer: what shelfscan does with stores, planograms and scans, independent of
how it is asked (HTTP routes, the CLI, the background workers).

* :mod:`shelfscan.services.errors` — the one error hierarchy, rendered by the API's handlers;
* :mod:`shelfscan.services.stores` — stores, bays, planogram versions and assignments;
* :mod:`shelfscan.services.scans` — the scan lifecycle (:class:`ScanStatus` and one function
  per transition) and scan queries;
* :mod:`shelfscan.services.uploads` — turning an upload into a queued scan.

Importing this package imports nothing else, so the light modules stay light.
"""
