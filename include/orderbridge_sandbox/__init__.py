"""Local fakes of the marketplace APIs, so orderbridge runs and is tested without credentials.

Run it with ``python -m orderbridge_sandbox`` (see ``__main__``), or from tests and scripts with
``process.start_sandbox``. ``catalogue`` and ``warehouse`` hold the demo merchant's products and
its simulated warehouse; ``faults`` is shared by every channel's fake. Each channel's fake is a
package split by role: ``state``, ``routes`` and ``control`` in each, more where a module would
pass 400 lines. ``fakedata`` and ``plentyfake`` generate the orders.

This package serves ``make demo``, the tests and the chaos suite, never the product: it may import
from ``orderbridge`` (the country and carrier tables in ``orderbridge.data``, for one), and
``orderbridge`` imports nothing from it (``tests/unit/test_package_boundaries.py``). Its own
dependencies (Faker) are the ``sandbox`` extra, not runtime requirements.
"""
