"""CloudFaster: a self-hosted control plane for Proxmox VE VMs and Docker Compose services."""

__version__ = "0.1.0"
