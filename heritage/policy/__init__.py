"""The one place that decides every permission. Default deny.

Routes name an action (see :data:`heritage.policy.rules.RULES`); services check
the same actions. ``docs/permissions.md`` is the human table of these rules and
a test compares the running application against it.
"""

from heritage.policy.decide import Decision, Target, decide, require
from heritage.policy.rules import RULES, Grant, Rule

__all__ = ["RULES", "Decision", "Grant", "Rule", "Target", "decide", "require"]
