"""The reverse-proxy client: Caddy driven through its admin API. Plain values in, nothing of CloudFaster
imported."""
