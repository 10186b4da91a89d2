// Alarm handling (报警处置) from the desk map: the popup of an open alarm offers its
// next moves (acknowledge; handle with a reason code; clear) to a signed-in user, sends
// them to POST /alarms/{id}/transitions and shows the alarm as it then is. The database
// decides who may (the enterprise's users and the regulators of the place); a refusal
// shows its reason in the popup.
import { getJSON, postJSON } from "./api.js";
import { t } from "./i18n.js";
import { escapeHtml } from "./mapbase.js";
import { currentUser, toast } from "./session.js";

const REASONS = ["process", "sensor_fault", "maintenance", "false_alarm"];

/** The moves block of an alarm popup; `record` is GET /alarms/{id} (with `moves`), or null while loading. */
export function alarmActionsHtml(record) {
  if (!record || !currentUser() || !record.moves?.length) return "";
  const reasons = REASONS.map((r) => `<option value="${r}">${escapeHtml(t(`alarm.reason.${r}`))}</option>`).join("");
  const where = [record.hazard_unit_name, record.enterprise_name].filter(Boolean).map(escapeHtml).join(" · ");
  return `<div class="alarm-actions" data-alarm="${record.id}" data-state="${record.state}">
    ${where ? `<p class="alarm-where">${where}</p>` : ""}
    ${record.moves.includes("handled") ? `<label>${escapeHtml(t("alarm.reason"))}<select name="reason">${reasons}</select></label>` : ""}
    <label>${escapeHtml(t("alarm.note"))}<input name="note" maxlength="4000"></label>
    <div class="alarm-buttons">${record.moves.map((m) => `<button type="button" data-move="${m}">${escapeHtml(t(`alarm.move.${m}`))}</button>`).join("")}</div>
    <p class="error" role="alert"></p></div>`;
}

/** Wire the buttons of `root` (a popup element); `onMoved(record)` gets the alarm as it is after the move. */
export function wireAlarmActions(root, onMoved) {
  const box = root.querySelector(".alarm-actions");
  if (!box) return;
  const error = box.querySelector(".error");
  for (const button of box.querySelectorAll("button[data-move]")) {
    button.addEventListener("click", async () => {
      const to = button.dataset.move;
      const note = box.querySelector("input[name=note]").value.trim();
      const body = { to, ...(note ? { note } : {}) };
      if (to === "handled") body.reason = box.querySelector("select[name=reason]").value;
      error.textContent = "";
      box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        await postJSON(`/alarms/${box.dataset.alarm}/transitions`, body);
        const record = await getJSON(`/alarms/${box.dataset.alarm}`);
        toast(t("alarm.moved", { move: t(`alarm.move.${to}`) }));
        onMoved(record);
      } catch (err) {
        error.textContent = err.message;
        box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    });
  }
}
