/** Vector overlay in screen space: prompts, the gesture in progress, the brush cursor. */
import { toScreen } from "../view.js";
const POSITIVE = "#2ecc71";
const NEGATIVE = "#ff4d4f";
function drawBox(ctx, view, box, color, dashed) {
    const a = toScreen(view, { x: box[0], y: box[1] });
    const b = toScreen(view, { x: box[2], y: box[3] });
    ctx.setLineDash(dashed ? [6, 4] : []);
    ctx.strokeStyle = "rgba(0,0,0,0.6)";
    ctx.lineWidth = 3;
    ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    ctx.setLineDash([]);
}
function drawScribble(ctx, view, scribble) {
    if (scribble.points.length === 0)
        return;
    ctx.beginPath();
    scribble.points.forEach(([x, y], i) => {
        const p = toScreen(view, { x, y });
        if (i === 0)
            ctx.moveTo(p.x, p.y);
        else
            ctx.lineTo(p.x, p.y);
    });
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "rgba(0,0,0,0.55)";
    ctx.lineWidth = 5;
    ctx.stroke();
    ctx.strokeStyle = scribble.positive ? POSITIVE : NEGATIVE;
    ctx.lineWidth = 3;
    ctx.stroke();
}
function drawClick(ctx, view, click) {
    const p = toScreen(view, click);
    ctx.beginPath();
    ctx.arc(p.x, p.y, 6, 0, Math.PI * 2);
    ctx.fillStyle = click.positive ? POSITIVE : NEGATIVE;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(p.x - 3, p.y);
    ctx.lineTo(p.x + 3, p.y);
    if (click.positive) {
        ctx.moveTo(p.x, p.y - 3);
        ctx.lineTo(p.x, p.y + 3);
    }
    ctx.lineWidth = 1.5;
    ctx.stroke();
}
export function paintOverlay(ctx, view, state) {
    if (state.selectedBox !== null) {
        const s = state.selectedBox;
        drawBox(ctx, view, [s.x, s.y, s.x + s.width, s.y + s.height], "#ffffff", true);
    }
    if (state.box !== null)
        drawBox(ctx, view, state.box, "#ffd166", false);
    if (state.previewBox !== null)
        drawBox(ctx, view, state.previewBox, "#ffd166", true);
    for (const scribble of state.scribbles)
        drawScribble(ctx, view, scribble);
    if (state.previewScribble !== null)
        drawScribble(ctx, view, state.previewScribble);
    for (const click of state.clicks)
        drawClick(ctx, view, click);
    if (state.brush !== null) {
        const p = toScreen(view, state.brush.at);
        ctx.beginPath();
        ctx.arc(p.x, p.y, Math.max(1, state.brush.radius * view.scale), 0, Math.PI * 2);
        ctx.strokeStyle = "rgba(0,0,0,0.7)";
        ctx.lineWidth = 3;
        ctx.stroke();
        ctx.strokeStyle = state.brush.erase ? NEGATIVE : "#ffffff";
        ctx.lineWidth = 1.5;
        ctx.stroke();
    }
}
//# sourceMappingURL=overlay.js.map