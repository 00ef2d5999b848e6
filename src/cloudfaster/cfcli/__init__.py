"""``cf``: the command-line client of CloudFaster, built on ``cloudfaster.client``."""
