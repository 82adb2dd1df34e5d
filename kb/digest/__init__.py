"""The monthly lessons-learned digest: compose it, render it, mail it, remember who got it."""
