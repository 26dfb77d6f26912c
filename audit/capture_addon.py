"""The hulian addon for mitmproxy: `mitmdump -s audit/capture_addon.py --set hulian_plan=PLAN
--set hulian_run=RUN` (also mitmweb, mitmproxy). The work is in audit.capture.CaptureAddon;
this file only registers it, as mitmproxy's script loader expects."""

from audit.capture import CaptureAddon

addons = [CaptureAddon()]
