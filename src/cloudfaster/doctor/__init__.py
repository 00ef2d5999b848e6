"""``cloudfaster doctor``: checks a real installation before its first user (Proxmox VE token, templates and
storage; Docker Engine, Compose and every template image; the reverse proxy) and says, for each
check, ok, warning or failing, with the fix."""

from cloudfaster.doctor.report import Check, Report, Status
from cloudfaster.doctor.run import DoctorOptions, run_doctor

__all__ = ["Check", "DoctorOptions", "Report", "Status", "run_doctor"]
