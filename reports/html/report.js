// Optional interaction for report.html: hover shows an observation's details,
// the zoom buttons widen the timeline. The page is complete without it.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("hover-data").textContent);
  var tip = document.createElement("div");
  tip.id = "tip";
  document.body.appendChild(tip);
  var statusName = ["ok", "failed", "errored"];
  function fmt(us) {
    if (us >= 1e6) return (us / 1e6).toPrecision(3) + "s";
    if (us >= 1e3) return (us / 1e3).toPrecision(3) + "ms";
    return us + "µs";
  }
  data.timelines.forEach(function (tl) {
    var svg = document.getElementById(tl.id);
    if (!svg) return;
    var wrap = svg.parentNode;
    var bar = document.createElement("div");
    bar.className = "zoom";
    bar.appendChild(document.createTextNode("zoom: "));
    [1, 2, 4, 8].forEach(function (z) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = z + "×";
      b.addEventListener("click", function () {
        svg.style.width = z * 100 + "%";
        wrap.classList.toggle("zoomed", z > 1);
      });
      bar.appendChild(b);
    });
    wrap.parentNode.insertBefore(bar, wrap);
    var perPx = tl.span / (tl.x1 - tl.x0);
    svg.addEventListener("mousemove", function (ev) {
      var m = svg.getScreenCTM();
      if (!m) return;
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX;
      pt.y = ev.clientY;
      var p = pt.matrixTransform(m.inverse());
      if (p.x < tl.x0 || p.x > tl.x1) { tip.style.display = "none"; return; }
      var tms = (p.x - tl.x0) * perPx;
      var text = "+" + (tms / 1000).toFixed(2) + "s";
      (tl.lanes || []).forEach(function (l) {
        if (p.y < l.y1 - 6 || p.y > l.y0 + 6) return;
        var best = null, bestD = 4 * perPx + 1;
        (l.b || []).forEach(function (o) {
          var d = Math.abs(o[0] - tms);
          if (d < bestD) { best = o; bestD = d; }
        });
        text += " · " + l.p;
        if (best) {
          text += ": " + statusName[best[2]] + " at +" + (best[0] / 1000).toFixed(3) + "s, " + fmt(best[1]) +
            (data.details[best[3]] ? " — " + data.details[best[3]] : "");
          return;
        }
        var col = Math.floor(p.x - tl.x0);
        (l.c || []).forEach(function (c) {
          if (c[0] === col) {
            text += ": " + c[1] + " ok, " + (c[2] === c[3] ? fmt(c[2]) : fmt(c[2]) + "–" + fmt(c[3]));
          }
        });
      });
      tip.textContent = text;
      tip.style.left = ev.clientX + 14 + "px";
      tip.style.top = ev.clientY + 12 + "px";
      tip.style.display = "block";
    });
    svg.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  });
  var root = document.documentElement;
  root.setAttribute("data-js", "ok");
  root.setAttribute("data-script-ms", String(Math.round(performance.now())));
  // Timings for the benchmark: from navigation start, and from the file's last byte,
  // to the load event (layout done, script run).
  window.addEventListener("load", function () {
    var nav = performance.getEntriesByType("navigation")[0];
    var from = nav ? nav.responseEnd : 0;
    root.setAttribute("data-load-ms", String(Math.round(performance.now())));
    root.setAttribute("data-render-ms", String(Math.round(performance.now() - from)));
  });
})();
