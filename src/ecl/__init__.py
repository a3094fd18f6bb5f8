"""ecl: Equilibrium Contrastive Learning for long-tailed image classification.

Roh, Kim, Lee, Chun, "Equilibrium contrastive learning for imbalanced image classification",
arXiv 2602.09506. See docs/METHOD.md for the method, equation by equation.
"""

__version__ = "0.1.0"
