"""The hulian addon for mitmproxy: `mitmdump -s audit/measure/capture/addon.py --set
hulian_plan=PLAN
--set hulian_run=RUN` (also mitmweb, mitmproxy). The work is in
audit.measure.capture.mitm.CaptureAddon;
this file only registers it, as mitmproxy's script loader expects."""

from audit.measure.capture.mitm import CaptureAddon

addons = [CaptureAddon()]
