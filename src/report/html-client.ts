/**
 * The HTML report's inline script (plain ES2017, no template literals so it
 * can live in a string): reads the embedded report JSON, derives the time
 * series and draws them with uPlot into each `figure[data-chart]`. Exposes
 * `window.stranglerReport = {data, charts}` (each chart: service, kind,
 * points, series, plot) and sets `data-charts="ready"` (or `"error"`) on
 * `<html>` when done, for tests and for anyone scripting the page.
 */
export const HTML_CLIENT_SCRIPT = String.raw`(function () {
  'use strict'
  var root = document.documentElement
  var charts = []
  var data
  try {
    data = JSON.parse(document.getElementById('report-data').textContent)
  } catch (err) {
    root.setAttribute('data-charts', 'error')
    console.error('strangler report: cannot read the embedded data', err)
    return
  }
  window.stranglerReport = {data: data, charts: charts}
  if (typeof uPlot === 'undefined') {
    root.setAttribute('data-charts', 'error')
    console.error('strangler report: the charting library is missing')
    return
  }
  var COLORS = ['#2563eb', '#d97706', '#059669', '#9333ea', '#dc2626', '#0891b2']
  var end = Date.parse(data.generatedAt) / 1000

  function ts(iso) { return Date.parse(iso) / 1000 }
  function uniqueSorted(xs) {
    var s = xs.filter(function (x) { return isFinite(x) }).sort(function (a, b) { return a - b })
    return s.filter(function (x, i) { return i === 0 || x !== s[i - 1] })
  }

  // Toggle rollout: one stepped series per toggle, each value carried forward to the report's time.
  function toggleSeries(svc) {
    var pts = svc.toggles.points
    if (!pts.length) return null
    var names = []
    pts.forEach(function (p) { if (names.indexOf(p.toggle) < 0) names.push(p.toggle) })
    var xs = uniqueSorted(pts.map(function (p) { return ts(p.at) }).concat(end > ts(pts[pts.length - 1].at) ? [end] : []))
    var ys = names.map(function (name) {
      var mine = pts.filter(function (p) { return p.toggle === name })
      var j = 0
      var cur = null
      return xs.map(function (x) {
        while (j < mine.length && ts(mine[j].at) <= x) { cur = mine[j].pct; j++ }
        return cur
      })
    })
    return {x: xs, ys: ys, labels: names, unit: '%', stepped: true, range: [0, 100], points: pts.length}
  }

  function relaySeries(svc, field, label, unit) {
    var pts = svc.relay.points.filter(function (p) { return p[field] !== null && p[field] !== undefined })
    if (!pts.length) return null
    return {x: pts.map(function (p) { return ts(p.at) }), ys: [pts.map(function (p) { return p[field] })], labels: [label], unit: unit, points: pts.length}
  }

  // Shadow mismatch rate: batches of the same time (one per entity) summed.
  function shadowSeries(svc) {
    var pts = svc.shadow.points
    if (!pts.length) return null
    var byAt = {}
    var order = []
    pts.forEach(function (p) {
      var k = ts(p.at)
      if (!byAt[k]) { byAt[k] = {sampled: 0, mismatches: 0}; order.push(k) }
      byAt[k].sampled += p.sampled
      byAt[k].mismatches += p.mismatches
    })
    var xs = uniqueSorted(order)
    var ys = xs.map(function (x) { var b = byAt[x]; return b.sampled ? (100 * b.mismatches) / b.sampled : 0 })
    return {x: xs, ys: [ys], labels: ['mismatch rate'], unit: '%', points: pts.length}
  }

  function seriesOf(svc, kind) {
    if (kind === 'toggle') return toggleSeries(svc)
    if (kind === 'lag') return relaySeries(svc, 'lagSeconds', 'lag', 's')
    if (kind === 'throughput') return relaySeries(svc, 'throughput', 'throughput', 'changes/s')
    if (kind === 'shadow') return shadowSeries(svc)
    return null
  }

  function num(v) {
    return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100)
  }
  function fmt(v, unit) {
    if (v === null || v === undefined) return '—'
    return num(v) + ' ' + unit
  }
  // UTC, 24 h: HH:MM, with the date under the first tick and where the day changes
  function timeTicks(_u, splits) {
    var prev = ''
    return splits.map(function (t) {
      var iso = new Date(t * 1000).toISOString()
      var day = iso.slice(0, 10)
      var label = iso.slice(11, 16) + (day !== prev ? '\n' + day : '')
      prev = day
      return label
    })
  }
  function timeValue(_u, t) {
    return t === null || t === undefined ? '—' : new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ')
  }

  function draw(fig) {
    var svc = data.services[Number(fig.getAttribute('data-service'))]
    var kind = fig.getAttribute('data-chart')
    var s = svc && seriesOf(svc, kind)
    if (!s) return
    var holder = fig.querySelector('.plot')
    var width = Math.max(280, holder.clientWidth || 480)
    var series = [{label: 'UTC', value: timeValue}]
    s.ys.forEach(function (_y, i) {
      var c = COLORS[i % COLORS.length]
      series.push({
        label: s.labels[i],
        stroke: c,
        width: 2,
        fill: s.ys.length === 1 ? c + '22' : undefined,
        spanGaps: true,
        points: {show: s.x.length <= 60, size: 6, fill: c},
        paths: s.stepped ? uPlot.paths.stepped({align: 1}) : undefined,
        value: function (_u, v) { return fmt(v, s.unit) },
      })
    })
    var opts = {
      width: width,
      height: 200,
      tzDate: function (t) { return uPlot.tzDate(new Date(t * 1e3), 'Etc/UTC') },
      scales: {x: {time: true}, y: s.range ? {range: s.range} : {range: function (_u, min, max) { return [0, max > 0 ? max * 1.1 : 1] }}},
      axes: [{stroke: '#4b5563', grid: {stroke: '#e5e7eb'}, values: timeTicks}, {stroke: '#4b5563', grid: {stroke: '#e5e7eb'}, size: 50, values: function (_u, vals) { return vals.map(num) }}],
      legend: {show: true},
      series: series,
    }
    var plot = new uPlot(opts, [s.x].concat(s.ys), holder)
    fig.classList.add('drawn')
    charts.push({service: svc.name, kind: kind, points: s.points, series: s.ys.length, plot: plot})
  }

  var failed = false
  Array.prototype.forEach.call(document.querySelectorAll('figure[data-chart]'), function (fig) {
    try { draw(fig) } catch (err) { failed = true; console.error('strangler report: chart ' + fig.getAttribute('data-chart') + ' failed', err) }
  })
  var timer = null
  window.addEventListener('resize', function () {
    clearTimeout(timer)
    timer = setTimeout(function () {
      charts.forEach(function (c) { var w = c.plot.root.parentNode.clientWidth; if (w) c.plot.setSize({width: Math.max(280, w), height: 200}) })
    }, 100)
  })
  root.setAttribute('data-charts', failed ? 'error' : 'ready')
})()
`
