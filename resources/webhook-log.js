/* The "Webhooks" sidebar tab: the deliveries of every receiver node, newest first, live, with
 * a search that filters as one types, paging, a details pane (each event's payload, then its
 * fate, then the record), Replay on an accepted delivery and Replay failed over a time range.
 * Reads and replays through the admin API (/verified-webhooks/deliveries…); live updates
 * arrive on the comms topic verified-webhooks/deliveries. Loaded once; the tab is added with
 * the first receiver type in the palette and removed with the last (onpaletteadd, onpaletteremove). */
(function () {
    "use strict";
    if (window.VerifiedWebhooksLog) return;

    var TOPIC = "verified-webhooks/deliveries";
    var PAGE = 100;
    var namespace; // the catalogue of the first receiver type that asked for the tab
    var deliveries = []; // summaries as listed, newest first
    var total = 0; // how many match the filters, in the log
    var next; // the cursor of the next page, if there may be one
    var selected; // deliveryId of the open details pane
    var ui = {};

    function t(key, values) {
        return RED._(namespace + ":webhook.log." + key, values);
    }

    /**
     * A copy of a value to show: a payload's own "__enc__" key would make Node-RED's object
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
        return RED.notify($("<p>").text(String(text)), type);
    }

    function filters() {
        return { node: ui.node.val() || "", status: ui.status.val() || "", event: $.trim(ui.search.val() || "") };
    }

    function nodeLabel(nodeId, fallback) {
        var node = RED.nodes.node(nodeId);
        return (node && RED.utils.getNodeLabel(node, node.type)) || fallback || nodeId;
    }

    /** A node's name that reveals it on the workspace, as the debug sidebar's do. */
    function nodeLink(nodeId, fallback) {
        var link = $('<a href="#" class="verified-webhooks-log-node">').text(nodeLabel(nodeId, fallback));
        if (!RED.nodes.node(nodeId)) return $('<span class="verified-webhooks-log-node">').text(nodeLabel(nodeId, fallback));
        return link.on("click", function (event) {
            event.preventDefault();
            event.stopPropagation();
            RED.view.reveal(nodeId);
        });
    }

    function flowIcon(state) {
        if (state === "failed") return $('<i class="fa fa-times-circle verified-webhooks-log-failed">').attr("title", t("flow.failed"));
        if (state === "pending") return $('<i class="fa fa-clock-o verified-webhooks-log-pending">').attr("title", t("flow.pending"));
        if (state === "handled") return $('<i class="fa fa-check-circle verified-webhooks-log-handled">').attr("title", t("flow.handled"));
        return $("<i>");
    }

    /** The time, with the date once it is not today. */
    function when(iso) {
        var time = new Date(iso);
        var today = new Date();
        var sameDay = time.toDateString() === today.toDateString();
        return sameDay ? time.toLocaleTimeString() : time.toLocaleDateString() + " " + time.toLocaleTimeString();
    }

    function mark(text, kind, title) {
        return $('<span class="verified-webhooks-log-mark">')
            .addClass("verified-webhooks-log-mark-" + kind)
            .text(text)
            .attr("title", title || text);
    }

    /** The events of a row: each name with its key (a session and sequence, an id), the first three. */
    function eventsText(summary) {
        var names = summary.events.slice(0, 3).map(function (name, index) {
            var key = summary.keys && summary.keys[index];
            return key ? name + " · " + key : name;
        });
        return names.join(", ") + (summary.events.length > 3 ? " +" + (summary.events.length - 3) : "");
    }

    function row(summary) {
        var outcome = summary.replayOf ? "replay" : summary.outcome;
        var element = $('<div class="red-ui-debug-msg verified-webhooks-log-row">')
            .attr("data-delivery", summary.deliveryId)
            .attr("data-outcome", summary.outcome)
            .attr("data-flow", summary.flow || "")
            .attr("data-replay", summary.replayOf ? "true" : "false");
        var meta = $('<div class="red-ui-debug-msg-meta verified-webhooks-log-meta">').appendTo(element);
        $('<span class="red-ui-debug-msg-date">').text(when(summary.receivedAt)).appendTo(meta);
        nodeLink(summary.node, summary.nodeName).appendTo(meta);
        // What sets the delivery apart from a plain new one, in the row itself.
        if (summary.test) mark(t("mark.test"), "test").appendTo(meta);
        if (summary.attempt && summary.attempt > 1) mark(t("mark.redelivered", { attempt: String(summary.attempt) }), "redelivered", t("mark.redeliveredTitle")).appendTo(meta);
        if (summary.replayOf) mark(t("mark.replayOf", { id: summary.replayOf.slice(0, 8) }), "replay").attr("data-link", summary.replayOf).appendTo(meta);
        if (summary.handledByReplay) mark(t("mark.handledByReplay"), "replayed").appendTo(meta);
        else if (summary.replayed) mark(t("mark.replayed"), "replayed").appendTo(meta);
        if (summary.outcome === "duplicate") {
            var repeats = mark(summary.duplicateOf ? t("mark.repeats", { id: summary.duplicateOf.slice(0, 8) }) : t("mark.repeatsUnlisted"), "duplicate").appendTo(meta);
            if (summary.duplicateOf) repeats.attr("data-link", summary.duplicateOf);
        }
        meta.find("[data-link]").on("click", function (event) {
            event.stopPropagation();
            show($(this).attr("data-link"));
        });

        var line = $('<div class="verified-webhooks-log-line">').appendTo(element);
        $('<span class="verified-webhooks-log-status">')
            .addClass("verified-webhooks-log-outcome-" + outcome)
            .text(summary.status + " " + t("outcome." + outcome))
            .appendTo(line);
        flowIcon(summary.flow).appendTo(line);
        $('<span class="verified-webhooks-log-events">').text(eventsText(summary) || summary.reason || "").attr("title", eventsText(summary) || summary.reason || "").appendTo(line);
        if (summary.flow === "failed" && summary.failedAt) {
            var failed = $('<div class="verified-webhooks-log-failure">').appendTo(element);
            $("<span>").text(t("failedIn") + " ").appendTo(failed);
            nodeLink(summary.failedAt).appendTo(failed);
            if (summary.error) $("<span>").text(": " + summary.error).appendTo(failed);
        }
        if (summary.deliveryId === selected) element.addClass("selected");
        element.on("click", function () {
            select(summary.deliveryId);
        });
        return element;
    }

    function render() {
        ui.list.empty();
        var f = filters();
        var filtered = f.node || f.status || f.event;
        if (deliveries.length === 0) {
            $('<div class="verified-webhooks-log-empty">')
                .text(filtered ? t("noMatch") : t("empty"))
                .appendTo(ui.list);
        }
        deliveries.forEach(function (summary) {
            ui.list.append(row(summary));
        });
        if (next && deliveries.length < total) {
            $('<button type="button" class="red-ui-button red-ui-button-small verified-webhooks-log-more">')
                .text(t("loadMore", { count: String(Math.min(PAGE, total - deliveries.length)) }))
                .on("click", function () {
                    load({ more: true });
                })
                .appendTo($('<div class="verified-webhooks-log-more-row">').appendTo(ui.list));
        }
        ui.count.text(deliveries.length === 0 ? "" : t(filtered ? "countFiltered" : "count", { shown: String(deliveries.length), total: String(total) }));
        // The details pane shows only a delivery that is listed.
        if (selected && !deliveries.some(function (summary) { return summary.deliveryId === selected; })) closeDetails();
    }

    function refreshNodeChoices() {
        var current = ui.node.val();
        var seen = {};
        ui.node.empty();
        $("<option>").val("").text(t("allNodes")).appendTo(ui.node);
        RED.nodes.eachNode(function (node) {
            if (/-webhook$/.test(node.type) && node._def && node._def.category === "webhooks" && !seen[node.id]) {
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

    var loading = 0;
    /**
     * Reads the list as filtered. `more`: the next page, added below. `live`: a refresh after
     * an update, keeping as many rows as are shown (and the node menu as it is, so an open menu stays open).
     */
    function load(options) {
        options = options || {};
        var f = filters();
        var shown = Math.max(PAGE, deliveries.length);
        var query = { node: f.node, status: f.status, event: f.event, limit: options.more ? PAGE : Math.min(shown, 1000) };
        if (options.more && next) query.after = next;
        var ticket = ++loading;
        $.getJSON("verified-webhooks/deliveries?" + $.param(query), function (data) {
            if (ticket !== loading) return; // a newer load (the user typed on) answers instead
            var listed = options.more ? deliveries : [];
            var known = {};
            listed.forEach(function (summary) {
                known[summary.deliveryId] = true;
            });
            (data.deliveries || []).forEach(function (summary) {
                if (!known[summary.deliveryId]) listed.push(summary);
            });
            deliveries = listed;
            total = data.total || 0;
            next = data.next;
            render();
            if (!options.live) refreshNodeChoices();
            if (selected && options.live && deliveries.some(function (summary) { return summary.deliveryId === selected; })) select(selected, true);
        }).fail(function (xhr) {
            if (!options.live) notify(t("loadFailed", { reason: (xhr.responseJSON && xhr.responseJSON.error) || xhr.status }), "error");
        });
    }

    function post(url, body, done) {
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

    function closeDetails() {
        selected = undefined;
        ui.details.hide().empty();
        ui.list.children().removeClass("selected");
    }

    /** What became of one event: its state, attempts, replays and earlier outcomes. */
    function fateOf(event) {
        var fate = $('<div class="verified-webhooks-log-fate">');
        flowIcon(event.state).appendTo(fate);
        $("<span>").text(" " + t("flow." + event.state) + (event.error ? ": " + event.error : "")).appendTo(fate);
        if (event.failedAt) {
            $("<span>").text(" (" + t("failedIn") + " ").appendTo(fate);
            nodeLink(event.failedAt).appendTo(fate);
            $("<span>").text(")").appendTo(fate);
        }
        if (event.attempt) $("<span>").text(" · " + t("attemptOf", { attempt: String(event.attempt) })).appendTo(fate);
        if (event.replays && event.replays.length) $("<span>").text(" · " + t("replayedAs", { ids: event.replays.map(function (id) { return id.slice(0, 8); }).join(", ") })).appendTo(fate);
        if (event.handledBy) $("<span>").text(" · " + t("handledByReplay", { id: String(event.handledBy).slice(0, 8) })).appendTo(fate);
        if (event.history && event.history.length) {
            var outcomes = event.history.map(function (earlier) {
                return t("flow." + earlier.state) + (earlier.error ? ": " + earlier.error : "") + (earlier.attempt ? " (" + t("attemptOf", { attempt: String(earlier.attempt) }) + ")" : "");
            });
            $('<div class="verified-webhooks-log-details-history">').text(t("before", { outcomes: outcomes.join("; ") })).appendTo(fate);
        }
        return fate;
    }

    /** The details pane: each event's payload first, then its fate, then the record (collapsed). */
    function select(deliveryId, quiet) {
        selected = deliveryId;
        ui.list.children().removeClass("selected");
        ui.list.children('[data-delivery="' + deliveryId + '"]').addClass("selected");
        $.getJSON("verified-webhooks/deliveries/" + encodeURIComponent(deliveryId), function (details) {
            if (selected !== deliveryId) return;
            ui.details.empty().show();
            var header = $('<div class="red-ui-sidebar-header verified-webhooks-log-details-header">').appendTo(ui.details);
            $("<span>").text(t("details") + " " + deliveryId.slice(0, 8) + " · " + when(details.receivedAt)).appendTo(header);
            var buttons = $('<span class="button-group">').appendTo(header);
            if (details.replayable) {
                $('<button type="button" class="red-ui-sidebar-header-button verified-webhooks-log-replay-button">')
                    .append('<i class="fa fa-repeat"></i> ')
                    .append($("<span>").text(t("replay")))
                    .on("click", function () {
                        post("verified-webhooks/deliveries/" + encodeURIComponent(deliveryId) + "/replay", {}, function (result) {
                            notify(t("replayed", { count: result.events, id: result.deliveryId.slice(0, 8) }), "success");
                        });
                    })
                    .appendTo(buttons);
            }
            $('<button type="button" class="red-ui-sidebar-header-button verified-webhooks-log-close"><i class="fa fa-times"></i></button>').on("click", closeDetails).appendTo(buttons);
            var body = $('<div class="verified-webhooks-log-details-body">').appendTo(ui.details);
            if (details.reason) $('<div class="verified-webhooks-log-details-reason">').text(details.status + " " + details.reason).appendTo(body);
            if (details.outcome === "duplicate") {
                $('<div class="verified-webhooks-log-details-reason">').text(details.duplicateOf ? t("duplicateOf", { id: details.duplicateOf.slice(0, 8) }) : t("mark.repeatsUnlisted")).appendTo(body);
            }
            (details.emitted || []).forEach(function (event, index) {
                var section = $('<div class="verified-webhooks-log-details-event">').attr("data-state", event.state).appendTo(body);
                var key = details.keys && details.keys[index];
                $('<div class="verified-webhooks-log-details-name">').text(event.name + (key ? " · " + key : "")).appendTo(section);
                if (event.payload !== undefined) {
                    RED.utils.createObjectElement(plain(event.payload), { key: null, typeHint: "Object", path: "", expandPaths: [""], sourceId: null }).appendTo(section);
                } else {
                    $('<div class="verified-webhooks-log-details-reason">').text(t("noPayload")).appendTo(section);
                }
                fateOf(event).appendTo(section);
            });
            // The whole record last, closed: what the admin API holds, for the curious.
            var record = plain(details);
            (record.emitted || []).forEach(function (event) {
                delete event.payload;
            });
            $('<div class="verified-webhooks-log-details-record-title">').text(t("record")).appendTo(body);
            RED.utils.createObjectElement(record, { key: null, typeHint: "Object", path: "", sourceId: null }).appendTo(body);
        }).fail(function () {
            if (!quiet) notify(t("gone"), "warning");
            closeDetails();
        });
    }

    /** Shows one delivery (from a notice): the tab opens, the filters clear, the delivery is selected. */
    function show(deliveryId) {
        RED.sidebar.show("verified-webhooks");
        if (!deliveries.some(function (summary) { return summary.deliveryId === deliveryId; })) {
            ui.node.val("");
            ui.status.val("");
            ui.search.searchBox("value", "");
            load();
        }
        select(deliveryId);
    }

    function replayFailed() {
        var since = Date.now() - Number(ui.range.val()) * 60 * 1000;
        var f = filters();
        var scope = { since: since, node: f.node };
        // First what it would replay: a count to confirm, or nothing to do.
        post("verified-webhooks/deliveries/replay-failed", $.extend({ dryRun: true }, scope), function (planned) {
            var range = ui.range.find("option:selected").text();
            if (!planned.events) return notify(t("nothingToReplay", { range: range }), "warning");
            var notice = RED.notify($("<p>").text(t("confirmReplay", { count: String(planned.events), deliveries: String(planned.deliveries), range: range })), {
                modal: true,
                fixed: true,
                type: "warning",
                buttons: [
                    {
                        text: t("cancel"),
                        click: function () {
                            notice.close();
                        },
                    },
                    {
                        text: t("replayFailed"),
                        class: "primary",
                        click: function () {
                            notice.close();
                            post("verified-webhooks/deliveries/replay-failed", scope, function (result) {
                                var events = result.replayed.reduce(function (sum, entry) {
                                    return sum + entry.events;
                                }, 0);
                                notify(t("replayedFailed", { count: events, deliveries: result.replayed.length }) + (result.more ? " " + t("more") : ""), result.replayed.length ? "success" : "warning");
                            });
                        },
                    },
                ],
            });
        });
    }

    function build() {
        var content = $('<div class="verified-webhooks-log">').css({ position: "absolute", top: 0, bottom: 0, left: 0, right: 0, display: "flex", "flex-direction": "column" });
        var toolbar = $('<div class="red-ui-sidebar-header verified-webhooks-log-toolbar">').appendTo(content);
        var searchRow = $('<div class="verified-webhooks-log-toolbar-row">').appendTo(toolbar);
        ui.search = $('<input type="text" class="verified-webhooks-log-search">').attr("placeholder", t("eventFilter")).attr("title", t("eventFilterTitle")).appendTo(searchRow);
        // Filters as one types (a moment after the last key), like the debug sidebar's filter.
        ui.search.searchBox({
            delay: 200,
            change: function () {
                load();
            },
        });
        var choices = $('<div class="verified-webhooks-log-toolbar-row">').appendTo(toolbar);
        ui.node = $('<select class="verified-webhooks-log-node">').attr("title", t("allNodes")).appendTo(choices);
        ui.status = $('<select class="verified-webhooks-log-status-filter">').appendTo(choices);
        ["", "accepted", "duplicate", "rejected", "failed"].forEach(function (status) {
            $("<option>").val(status).text(t(status ? "status." + status : "allStatuses")).appendTo(ui.status);
        });
        $('<button type="button" class="red-ui-sidebar-header-button verified-webhooks-log-refresh"><i class="fa fa-refresh"></i></button>')
            .attr("title", t("refresh"))
            .on("click", function () {
                load();
            })
            .appendTo(choices);
        ui.count = $('<div class="verified-webhooks-log-count">').appendTo(content);
        ui.list = $('<div class="verified-webhooks-log-list">').css({ flex: "1 1 auto", overflow: "auto", position: "relative" }).appendTo(content);
        ui.details = $('<div class="verified-webhooks-log-details">').css({ flex: "0 0 auto", "max-height": "55%", overflow: "auto", "border-top": "1px solid var(--red-ui-secondary-border-color, #ddd)" }).hide().appendTo(content);

        var footer = $('<div class="red-ui-sidebar-footer verified-webhooks-log-footer">');
        $('<button type="button" class="red-ui-footer-button verified-webhooks-log-replay-failed">')
            .attr("title", t("replayFailed"))
            .append('<i class="fa fa-repeat"></i> ')
            .append($("<span>").text(t("replayFailed")))
            .css({ width: "auto", padding: "0 6px" })
            .on("click", replayFailed)
            .appendTo(footer);
        ui.range = $('<select class="verified-webhooks-log-range">').appendTo(footer);
        [["15", "range.15m"], ["60", "range.1h"], ["1440", "range.24h"], ["10080", "range.7d"]].forEach(function (choice) {
            $("<option>").val(choice[0]).text(t(choice[1])).appendTo(ui.range);
        });
        ui.range.val("60");

        ui.node.on("change", function () {
            load();
        });
        ui.status.on("change", function () {
            load();
        });
        return { content: content, footer: footer };
    }

    var parts; // the tab's content and footer, while it is in the sidebar
    var receiverTypes = {}; // the receiver types in the palette: the tab is there while there is one

    /** Deliveries changed (every editor connection hears it, not what changed): what did is read through the admin API, as this user may. */
    var refreshTimer;
    function onLiveUpdate() {
        if (refreshTimer) return;
        refreshTimer = setTimeout(function () {
            refreshTimer = undefined;
            if (parts) load({ live: true });
        }, 250);
    }
    function onDeploy() {
        load();
    }
    function showTab() {
        RED.sidebar.show("verified-webhooks");
    }

    /** Adds the tab, with the catalogue of `type` (every receiver's catalogue has the strings). */
    function addTab(type) {
        if (parts) return;
        namespace = "node-red-contrib-verified-webhooks/" + type;
        parts = build();
        RED.sidebar.addTab({
            id: "verified-webhooks",
            label: t("label"),
            name: t("name"),
            iconClass: "fa fa-exchange",
            content: parts.content,
            toolbar: parts.footer,
            enableOnEdit: true,
            pinned: true,
            action: "verified-webhooks:show-webhooks-tab",
            onchange: function () {
                load();
            },
        });
        // Beside debug, not after config and context: the sidebar has room for four icons at
        // its default width, and the last are moved to its menu. Unless the user ordered the
        // icons (by dragging them), which stays as they left it.
        if (!RED.settings.get("editor.sidebar.order")) {
            var debugTab = $("#red-ui-tab-debug");
            var debugLink = $("#red-ui-tab-debug-link-button");
            if (debugTab.length && debugLink.length) {
                var link = $("#red-ui-tab-verified-webhooks-link-button");
                $("#red-ui-tab-verified-webhooks").insertAfter(debugTab);
                link.insertAfter(debugLink);
                // The sidebar hid the last icon for want of room before it was moved here: the
                // icon now last in the row gives up its place instead.
                setTimeout(function () {
                    if (link.is(":visible")) return;
                    var lastShown = link.nextAll("a.red-ui-tab-link-button:visible").not(".red-ui-tab-link-button-menu").last();
                    if (!lastShown.length) return;
                    lastShown.hide();
                    link.show();
                }, 50);
            }
        }
        RED.actions.add("verified-webhooks:show-webhooks-tab", showTab);
        RED.comms.subscribe(TOPIC, onLiveUpdate);
        RED.events.on("deploy", onDeploy);
        load();
    }

    /** Takes the tab away with the last receiver type (the module removed or its nodes disabled in the palette). */
    function removeTab() {
        if (!parts) return;
        RED.comms.unsubscribe(TOPIC, onLiveUpdate);
        RED.events.off("deploy", onDeploy);
        RED.actions.remove("verified-webhooks:show-webhooks-tab");
        RED.sidebar.removeTab("verified-webhooks");
        parts.footer.remove(); // Node-RED's removeTab leaves a tab's toolbar in the sidebar's footer
        parts = undefined;
        ui = {};
        deliveries = [];
        selected = undefined;
    }

    /** A receiver's definition calls these from onpaletteadd and onpaletteremove. */
    function typeAdded(type) {
        receiverTypes[type] = true;
        addTab(type);
    }
    function typeRemoved(type) {
        delete receiverTypes[type];
        if (Object.keys(receiverTypes).length === 0) removeTab();
    }

    window.VerifiedWebhooksLog = { typeAdded: typeAdded, typeRemoved: typeRemoved, show: show };
})();
