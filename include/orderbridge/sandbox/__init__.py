"""Local fakes of the marketplace APIs, so orderbridge runs and is tested without credentials.

Run it with ``python -m orderbridge.sandbox`` (see ``__main__``), or from tests and scripts with
``process.start_sandbox``. ``catalogue`` and ``warehouse`` hold the demo merchant's products and
its simulated warehouse; ``faults`` is shared by every channel's fake.
"""
