/* The "Webhooks" sidebar tab: the newest deliveries of every receiver node, live, with
 * filters, a details pane, Replay on an accepted delivery and Replay failed over a time
 * range. Reads and replays through the admin API (/verified-webhooks/deliveries…); live
 * updates arrive on the comms topic verified-webhooks/deliveries. Every receiver's editor
 * file loads this script; the tab is added once. */
(function () {
    "use strict";
    if (window.VerifiedWebhooksLog) return;

    var TOPIC = "verified-webhooks/deliveries";
    var SHOWN = 200;
    var namespace; // the catalogue of the first receiver type that asked for the tab
    var deliveries = []; // summaries, newest first
    var selected; // deliveryId of the open details pane
    var ui = {};

    function t(key, values) {
        return RED._(namespace + ":webhook.log." + key, values);
    }

    /**
     * A copy of a delivery to show: a payload's own "__enc__" key would make Node-RED's object
     * viewer take it for one of its encodings (a buffer, a function…), so it is shown renamed.
     */
    function plain(value, depth) {
        depth = depth || 0;
        if (value === null || typeof value !== "object" || depth > 64) return value;
        if (Array.isArray(value)) {
            return value.map(function (item) {
                return plain(item, depth + 1);
            });
        }
        var copy = {};
        Object.keys(value).forEach(function (key) {
            copy[key === "__enc__" ? "__enc__ (in the payload)" : key] = plain(value[key], depth + 1);
        });
        return copy;
    }

    /** Every notice is text: a reason from the server may quote what a sender wrote. */
    function notify(text, type) {
        RED.notify($("<p>").text(String(text)), type);
    }

    function filters() {
        return { node: ui.node.val() || "", status: ui.status.val() || "", event: $.trim(ui.event.val() || "") };
    }

    function eventMatches(names, pattern) {
        if (!pattern) return true;
        return names.some(function (name) {
            return pattern.slice(-2) === ".*" ? name.indexOf(pattern.slice(0, -1)) === 0 : name === pattern;
        });
    }

    function shown(summary) {
        var f = filters();
        if (f.node && summary.node !== f.node) return false;
        if (f.status === "failed" ? summary.flow !== "failed" : f.status && summary.outcome !== f.status) return false;
        return eventMatches(summary.events, f.event);
    }

    function nodeLabel(summary) {
        var node = RED.nodes.node(summary.node);
        return (node && (node.name || (node._def && node._def.label && RED.utils.getNodeLabel(node)))) || summary.nodeName || summary.node;
    }

    function flowIcon(summary) {
        if (summary.flow === "failed") return $('<i class="fa fa-times-circle verified-webhooks-log-failed">').attr("title", t("flow.failed"));
        if (summary.flow === "pending") return $('<i class="fa fa-clock-o verified-webhooks-log-pending">').attr("title", t("flow.pending"));
        if (summary.flow === "handled") return $('<i class="fa fa-check-circle verified-webhooks-log-handled">').attr("title", t("flow.handled"));
        return $("<i>");
    }

    function row(summary) {
        var time = new Date(summary.receivedAt);
        var names = summary.events.slice(0, 3).join(", ") + (summary.events.length > 3 ? " +" + (summary.events.length - 3) : "");
        var outcome = summary.replayOf ? "replay" : summary.outcome;
        var element = $('<div class="red-ui-debug-msg verified-webhooks-log-row">')
            .attr("data-delivery", summary.deliveryId)
            .attr("data-outcome", summary.outcome)
            .attr("data-flow", summary.flow || "")
            .attr("data-replay", summary.replayOf ? "true" : "false");
        var meta = $('<div class="red-ui-debug-msg-meta">').appendTo(element);
        $('<span class="red-ui-debug-msg-date">').text(time.toLocaleTimeString()).appendTo(meta);
        $('<span class="red-ui-debug-msg-name">').text(nodeLabel(summary)).appendTo(meta);
        var line = $('<div class="verified-webhooks-log-line">').appendTo(element);
        $('<span class="verified-webhooks-log-status">')
            .addClass("verified-webhooks-log-outcome-" + outcome)
            .text(summary.status + " " + t("outcome." + outcome))
            .appendTo(line);
        flowIcon(summary).appendTo(line);
        $('<span class="verified-webhooks-log-events">').text(names || summary.reason || "").appendTo(line);
        if (summary.deliveryId === selected) element.addClass("selected");
        element.on("click", function () {
            select(summary.deliveryId);
        });
        return element;
    }

    function render() {
        ui.list.empty();
        var visible = deliveries.filter(shown);
        if (visible.length === 0) $('<div class="verified-webhooks-log-empty">').text(t("empty")).appendTo(ui.list);
        visible.slice(0, SHOWN).forEach(function (summary) {
            ui.list.append(row(summary));
        });
    }

    function refreshNodeChoices() {
        var current = ui.node.val();
        var seen = {};
        ui.node.empty();
        $("<option>").val("").text(t("allNodes")).appendTo(ui.node);
        RED.nodes.eachNode(function (node) {
            if (/-webhook$/.test(node.type) && !seen[node.id]) {
                seen[node.id] = true;
                $("<option>").val(node.id).text(RED.utils.getNodeLabel(node, node.id)).appendTo(ui.node);
            }
        });
        deliveries.forEach(function (summary) {
            if (!seen[summary.node]) {
                seen[summary.node] = true;
                $("<option>").val(summary.node).text(summary.nodeName || summary.node).appendTo(ui.node);
            }
        });
        ui.node.val(current || "");
    }

    function upsert(summaries) {
        summaries.forEach(function (summary) {
            var index = deliveries.findIndex(function (known) {
                return known.deliveryId === summary.deliveryId;
            });
            if (index >= 0) deliveries[index] = summary;
            else deliveries.push(summary);
        });
        deliveries.sort(function (a, b) {
            return a.receivedAt < b.receivedAt ? 1 : a.receivedAt > b.receivedAt ? -1 : 0;
        });
        deliveries = deliveries.slice(0, 1000);
        render();
        if (selected && summaries.some(function (summary) { return summary.deliveryId === selected; })) select(selected);
    }

    /** The list as filtered; on a load (not a live refresh) the node menu is rebuilt too. */
    function load(liveRefresh) {
        var f = filters();
        var query = $.param({ node: f.node, status: f.status, event: f.event, limit: SHOWN });
        $.getJSON("verified-webhooks/deliveries?" + query, function (data) {
            deliveries = [];
            upsert(data.deliveries || []);
            // Rebuilt on a load only: rebuilding the choices on every live update would close an open menu.
            if (liveRefresh !== true) refreshNodeChoices();
        }).fail(function (xhr) {
            if (liveRefresh !== true) notify(t("loadFailed", { reason: (xhr.responseJSON && xhr.responseJSON.error) || xhr.status }), "error");
        });
    }

    function replay(url, body, done) {
        $.ajax({
            url: url,
            type: "POST",
            data: JSON.stringify(body || {}),
            contentType: "application/json; charset=utf-8",
            success: function (result) {
                done(result);
            },
            error: function (xhr) {
                notify(t("replayRefused", { reason: (xhr.responseJSON && xhr.responseJSON.error) || xhr.status }), "error");
            },
        });
    }

    function select(deliveryId) {
        selected = deliveryId;
        ui.list.children().removeClass("selected");
        ui.list.children('[data-delivery="' + deliveryId + '"]').addClass("selected");
        $.getJSON("verified-webhooks/deliveries/" + encodeURIComponent(deliveryId), function (details) {
            if (selected !== deliveryId) return;
            ui.details.empty().show();
            var header = $('<div class="red-ui-sidebar-header verified-webhooks-log-details-header">').appendTo(ui.details);
            $("<span>").text(t("details") + " " + deliveryId.slice(0, 8)).appendTo(header);
            var buttons = $('<span class="button-group">').appendTo(header);
            if (details.replayable) {
                $('<button type="button" class="red-ui-sidebar-header-button verified-webhooks-log-replay-button">')
                    .append('<i class="fa fa-repeat"></i> ')
                    .append($("<span>").text(t("replay")))
                    .on("click", function () {
                        replay("verified-webhooks/deliveries/" + encodeURIComponent(deliveryId) + "/replay", {}, function (result) {
                            notify(t("replayed", { count: result.events, id: result.deliveryId.slice(0, 8) }), "success");
                        });
                    })
                    .appendTo(buttons);
            }
            $('<button type="button" class="red-ui-sidebar-header-button"><i class="fa fa-times"></i></button>')
                .on("click", function () {
                    selected = undefined;
                    ui.details.hide();
                    ui.list.children().removeClass("selected");
                })
                .appendTo(buttons);
            var body = $('<div class="verified-webhooks-log-details-body">').appendTo(ui.details);
            // Each emitted event and what the flow did with it, then the whole record.
            var events = $('<ul class="verified-webhooks-log-details-events">').appendTo(body);
            (details.emitted || []).forEach(function (event) {
                var item = $("<li>").attr("data-state", event.state).appendTo(events);
                flowIcon({ flow: event.state }).appendTo(item);
                $("<span>").text(" " + event.name + " · " + t("flow." + event.state) + (event.error ? ": " + event.error : "")).appendTo(item);
                if (event.attempt) $("<span>").text(" · " + t("attemptOf", { attempt: String(event.attempt) })).appendTo(item);
                if (event.replays && event.replays.length) $("<span>").text(" · " + t("replayedAs", { ids: event.replays.map(function (id) { return id.slice(0, 8); }).join(", ") })).appendTo(item);
                if (event.handledBy) $("<span>").text(" · " + t("handledByReplay", { id: String(event.handledBy).slice(0, 8) })).appendTo(item);
                // What happened to it before: a failure that a redelivery or a replay later handled.
                if (event.history && event.history.length) {
                    var outcomes = event.history.map(function (earlier) {
                        return t("flow." + earlier.state) + (earlier.error ? ": " + earlier.error : "") + (earlier.attempt ? " (" + t("attemptOf", { attempt: String(earlier.attempt) }) + ")" : "");
                    });
                    $('<div class="verified-webhooks-log-details-history">').text(t("before", { outcomes: outcomes.join("; ") })).appendTo(item);
                }
            });
            if (details.reason) $('<div class="verified-webhooks-log-details-reason">').text(details.status + " " + details.reason).appendTo(body);
            RED.utils.createObjectElement(plain(details), { key: null, typeHint: "Object", path: "", expandPaths: ["", "emitted"], sourceId: null }).appendTo(body);
        });
    }

    function replayFailed() {
        var since = Date.now() - Number(ui.range.val()) * 60 * 1000;
        var f = filters();
        replay("verified-webhooks/deliveries/replay-failed", { since: since, node: f.node }, function (result) {
            var events = result.replayed.reduce(function (sum, entry) {
                return sum + entry.events;
            }, 0);
            notify(t("replayedFailed", { count: events, deliveries: result.replayed.length }), result.replayed.length ? "success" : "warning");
        });
    }

    function build() {
        var content = $('<div class="verified-webhooks-log">').css({ position: "absolute", top: 0, bottom: 0, left: 0, right: 0, display: "flex", "flex-direction": "column" });
        var toolbar = $('<div class="red-ui-sidebar-header verified-webhooks-log-toolbar">').appendTo(content);
        ui.node = $('<select class="verified-webhooks-log-node">').css({ width: "30%" }).appendTo(toolbar);
        ui.status = $('<select class="verified-webhooks-log-status-filter">').css({ width: "24%" }).appendTo(toolbar);
        ["", "accepted", "duplicate", "rejected", "failed"].forEach(function (status) {
            $("<option>").val(status).text(t(status ? "status." + status : "allStatuses")).appendTo(ui.status);
        });
        ui.event = $('<input type="text" class="verified-webhooks-log-event">').attr("placeholder", t("eventFilter")).css({ width: "30%" }).appendTo(toolbar);
        $('<button type="button" class="red-ui-sidebar-header-button verified-webhooks-log-refresh"><i class="fa fa-refresh"></i></button>')
            .attr("title", t("refresh"))
            .on("click", load)
            .appendTo(toolbar);
        ui.list = $('<div class="verified-webhooks-log-list">').css({ flex: "1 1 auto", overflow: "auto", position: "relative" }).appendTo(content);
        ui.details = $('<div class="verified-webhooks-log-details">').css({ flex: "0 0 auto", "max-height": "50%", overflow: "auto", "border-top": "1px solid var(--red-ui-secondary-border-color, #ddd)" }).hide().appendTo(content);

        var footer = $('<div class="red-ui-sidebar-footer verified-webhooks-log-footer">');
        $('<button type="button" class="red-ui-button red-ui-button-small verified-webhooks-log-replay-failed">')
            .append('<i class="fa fa-repeat"></i> ')
            .append($("<span>").text(t("replayFailed")))
            .on("click", replayFailed)
            .appendTo(footer);
        ui.range = $('<select class="verified-webhooks-log-range">').css({ width: "auto" }).appendTo(footer);
        [["15", "range.15m"], ["60", "range.1h"], ["1440", "range.24h"], ["10080", "range.7d"]].forEach(function (choice) {
            $("<option>").val(choice[0]).text(t(choice[1])).appendTo(ui.range);
        });
        ui.range.val("60");

        ui.node.on("change", load);
        ui.status.on("change", load);
        ui.event.on("change", load);
        ui.event.on("keyup", function (event) {
            if (event.key === "Enter") load();
        });

        $("<style>")
            .text(
                ".verified-webhooks-log-toolbar { display:flex; gap:4px; align-items:center; padding:4px; }" +
                    ".verified-webhooks-log-row { cursor:pointer; }" +
                    ".verified-webhooks-log-row.selected { background: var(--red-ui-list-item-background-selected, #ffebc7); }" +
                    ".verified-webhooks-log-line { display:flex; gap:6px; align-items:center; padding:2px 0; }" +
                    ".verified-webhooks-log-status { font-family: monospace; padding:0 4px; border-radius:2px; }" +
                    ".verified-webhooks-log-outcome-accepted { background:#e3f4e0; } .verified-webhooks-log-outcome-duplicate { background:#eee; }" +
                    ".verified-webhooks-log-outcome-rejected { background:#fbe1e1; } .verified-webhooks-log-outcome-replay { background:#e1ecfb; }" +
                    ".verified-webhooks-log-failed { color:#c33; } .verified-webhooks-log-pending { color:#999; } .verified-webhooks-log-handled { color:#3a3; }" +
                    ".verified-webhooks-log-events { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }" +
                    ".verified-webhooks-log-empty { padding:10px; color:#999; text-align:center; }" +
                    ".verified-webhooks-log-details-header { display:flex; justify-content:space-between; align-items:center; padding:4px; }" +
                    ".verified-webhooks-log-details-body { padding:4px 8px; }" +
                    ".verified-webhooks-log-details-events { list-style:none; margin:0 0 6px 0; padding:0; }" +
                    ".verified-webhooks-log-footer { display:flex; gap:4px; align-items:center; padding:4px; }",
            )
            .appendTo(content);
        return { content: content, footer: footer };
    }

    /** Adds the tab, once, with the catalogue of `type` (every receiver's catalogue has the strings). */
    function addTab(type) {
        if (namespace) return;
        namespace = "node-red-contrib-verified-webhooks/" + type;
        var parts = build();
        RED.sidebar.addTab({
            id: "verified-webhooks",
            label: t("label"),
            name: t("name"),
            iconClass: "fa fa-exchange",
            content: parts.content,
            toolbar: parts.footer,
            enableOnEdit: true,
            // An icon beside debug and info, not only an entry in the sidebar's menu.
            pinned: true,
            action: "verified-webhooks:show-webhooks-tab",
            onchange: load,
        });
        RED.actions.add("verified-webhooks:show-webhooks-tab", function () {
            RED.sidebar.show("verified-webhooks");
        });
        // A notice that deliveries changed, without them (every editor connection hears it):
        // what changed is read through the admin API, as this user may.
        var refreshTimer;
        RED.comms.subscribe(TOPIC, function () {
            if (refreshTimer) return;
            refreshTimer = setTimeout(function () {
                refreshTimer = undefined;
                load(true);
            }, 250);
        });
        RED.events.on("deploy", load);
        load();
    }

    window.VerifiedWebhooksLog = { addTab: addTab };
})();
