"""Virtual machines on Proxmox VE: create with failover, resources, power, console, delete."""
