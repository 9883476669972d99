/* Editor behaviour shared by the verified-webhooks receiver nodes. Each node's .html file
 * holds its template and its node definition, and takes behaviour from VerifiedWebhooks.receiverEditor. */
(function () {
    "use strict";
    if (window.VerifiedWebhooks) return; // every node's editor file loads this script


    function pathOf(value) {
        var segments = String(value || "").split("/").filter(Boolean);
        return segments.length ? "/" + segments.join("/") : "";
    }

    // As the runtime refuses them (route-table.ts): a backslash, white space, control
    // characters, ? and #, and . or .. segments could make the node's URL mean another place.
    var UNSAFE_PATH = /[\\?#\s\u0000-\u001f\u007f-\u009f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]|(^|\/)\.{1,2}(\/|$)/;

    function validPath(value) {
        return pathOf(value) !== "" && !UNSAFE_PATH.test(String(value));
    }

    /** The URL to paste into the provider's console: editor address + httpNodeRoot + path. */
    function webhookUrl(path) {
        var here = document.location;
        var adminRoot = (RED.settings.httpAdminRoot || "/").replace(/\/$/, "");
        var nodeRoot = (RED.settings.httpNodeRoot || "/").replace(/\/$/, "");
        // Behind a reverse proxy the editor may sit below a prefix: keep what precedes httpAdminRoot.
        var prefix = here.pathname.replace(/\/$/, "");
        if (adminRoot && prefix.slice(-adminRoot.length) === adminRoot) prefix = prefix.slice(0, -adminRoot.length);
        return here.protocol + "//" + here.host + prefix + nodeRoot + pathOf(path);
    }

    function nodesOnPath(node, path) {
        var others = [];
        RED.nodes.eachNode(function (other) {
            if (other.id !== node.id && /-webhook$/.test(other.type) && !other.d && pathOf(other.path) === path) others.push(other);
        });
        return others;
    }

    var samples; // provider → sample event names, from the runtime
    function loadSamples(done) {
        if (samples) return done(samples);
        $.getJSON("verified-webhooks/samples", function (data) {
            samples = data;
            done(samples);
        });
    }

    function sendTestEvent(node, eventName) {
        if (node.changed || !node._def) {
            RED.notify(node._("webhook.test.undeployed"), "warning");
            return;
        }
        $.ajax({
            url: "verified-webhooks/" + node.id + "/test",
            type: "POST",
            data: JSON.stringify({ event: eventName || "" }),
            contentType: "application/json; charset=utf-8",
            success: function (result) {
                var ok = result.status >= 200 && result.status < 300;
                var message = node._(ok ? "webhook.test.sent" : "webhook.test.refused", {
                    event: result.event,
                    status: result.status,
                    body: String(result.body).slice(0, 200),
                });
                // As text: the answer's body and reasons may quote what was sent.
                RED.notify($("<p>").text(message), { type: ok ? "success" : "warning", timeout: ok ? 3000 : 6000 });
            },
            error: function (xhr) {
                var reason = xhr.status === 404 ? node._("webhook.test.undeployed") : (xhr.responseJSON && xhr.responseJSON.error) || xhr.status;
                RED.notify($("<p>").text(node._("webhook.test.failed", { reason: String(reason) })), "error");
            },
        });
    }

    // Rows every receiver's dialog shares, put where its template holds these placeholders.
    var COMMON_ROWS = [
        '<div class="form-row">',
        '  <label for="node-input-name"><i class="fa fa-tag"></i> <span data-i18n="webhook.label.name"></span></label>',
        '  <input type="text" id="node-input-name" data-i18n="[placeholder]webhook.label.name">',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-path"><i class="fa fa-globe"></i> <span data-i18n="webhook.label.path"></span></label>',
        '  <input type="text" id="node-input-path">',
        "</div>",
        '<div class="form-row form-tips verified-webhooks-path-warning" style="display:none"><i class="fa fa-exclamation-triangle"></i> <span data-i18n="webhook.tip.pathInUse"></span></div>',
        '<div class="form-row">',
        '  <label for="node-input-webhook-url"><i class="fa fa-link"></i> <span data-i18n="webhook.label.url"></span></label>',
        '  <input type="text" id="node-input-webhook-url" readonly style="width: calc(70% - 38px)">',
        '  <button type="button" class="red-ui-button" id="node-input-copy-url" data-i18n="[title]webhook.label.copy"><i class="fa fa-copy"></i></button>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="[html]__TYPE__.tip.url"></div>',
        '<div class="form-row">',
        '  <label for="node-input-secret"><i class="fa fa-key"></i> <span data-i18n="webhook.label.secret"></span></label>',
        '  <textarea id="node-input-secret" rows="2" autocomplete="off" spellcheck="false" data-i18n="[placeholder]__TYPE__.placeholder.secret"' +
            ' style="width:70%; resize:vertical; font-family:monospace; -webkit-text-security:disc"></textarea>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="[html]webhook.tip.secret"></div>',
    ].join("\n");
    var LIMIT_ROWS = [
        '<div class="form-row">',
        '  <label for="node-input-maxBodyKiB"><i class="fa fa-arrows-v"></i> <span data-i18n="webhook.label.maxBodyKiB"></span></label>',
        '  <input type="text" id="node-input-maxBodyKiB" style="width:100px"> <span data-i18n="webhook.label.kib"></span>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-dedupSeconds"><i class="fa fa-clone"></i> <span data-i18n="webhook.label.dedupSeconds"></span></label>',
        '  <input type="text" id="node-input-dedupSeconds" style="width:100px"> <span data-i18n="webhook.label.seconds"></span>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.dedup"></div>',
        '<div class="form-row">',
        '  <label for="node-input-bodyTimeoutSeconds"><i class="fa fa-clock-o"></i> <span data-i18n="webhook.label.bodyTimeout"></span></label>',
        '  <input type="text" id="node-input-bodyTimeoutSeconds" style="width:100px"> <span data-i18n="webhook.label.seconds"></span>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-maxConcurrent"><i class="fa fa-tachometer"></i> <span data-i18n="webhook.label.maxConcurrent"></span></label>',
        '  <input type="text" id="node-input-maxConcurrent" style="width:100px"> <span data-i18n="webhook.label.deliveries"></span>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.limits"></div>',
        '<div class="form-row">',
        '  <label for="node-input-state"><i class="fa fa-database"></i> <span data-i18n="webhook.label.state"></span></label>',
        '  <input type="text" id="node-input-state">',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.state"></div>',
        '<div class="form-row">',
        '  <label for="node-input-logDeliveries"><i class="fa fa-list-alt"></i> <span data-i18n="webhook.label.log"></span></label>',
        '  <input type="text" id="node-input-logDeliveries" style="width:80px"> <span data-i18n="webhook.label.logDeliveries"></span>',
        '  <input type="text" id="node-input-logHours" style="width:60px"> <span data-i18n="webhook.label.logHours"></span>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.log"></div>',
        '<div class="form-row">',
        '  <label for="node-input-persist" style="width:auto"><input type="checkbox" id="node-input-persist" style="display:inline-block; width:auto; vertical-align:top;"> <span data-i18n="webhook.label.persist"></span></label>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-maxAttempts"><i class="fa fa-repeat"></i> <span data-i18n="webhook.label.maxAttempts"></span></label>',
        '  <input type="text" id="node-input-maxAttempts" style="width:80px">',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.persist"></div>',
        "<hr>",
        '<div class="form-row">',
        '  <label for="node-input-test-event"><i class="fa fa-paper-plane"></i> <span data-i18n="webhook.label.test"></span></label>',
        '  <select id="node-input-test-event" style="width: calc(70% - 160px)"></select>',
        '  <button type="button" class="red-ui-button" id="node-input-send-test" style="width:150px"><i class="fa fa-paper-plane"></i> <span data-i18n="webhook.label.send"></span></button>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.test"></div>',
    ].join("\n");

    function completeTemplate(type) {
        var template = $('script[data-template-name="' + type + '"]');
        template.text(
            template
                .text()
                .replace('<div class="verified-webhooks-common"></div>', COMMON_ROWS)
                .replace('<div class="verified-webhooks-limits"></div>', LIMIT_ROWS)
                .replace(/__TYPE__/g, type),
        );
    }

    /**
     * What every receiver's definition shares. Each editor file spells out its own
     * definition (category, colour, defaults, credentials, inputs, outputs, icon) as literals,
     * the form the Flow Library and `node-red-dev validate` read, and takes its behaviour
     * from here. `provider` names its samples; `defaultPath` is the path a new node gets.
     */
    function receiverEditor(type, provider, paletteLabel, defaultPath) {
        completeTemplate(type);
        return {
            outputLabels: function (index) {
                return this._(index === 0 ? "webhook.outputs.events" : "webhook.outputs.rejected");
            },
            label: function () {
                return this.name || paletteLabel + " " + pathOf(this.path);
            },
            labelStyle: function () {
                return this.name ? "node_label_italic" : "";
            },
            button: {
                enabled: function () {
                    return !this.changed;
                },
                onclick: function () {
                    sendTestEvent(this);
                },
            },
            oneditprepare: function () {
                var node = this;
                var pathInput = $("#node-input-path");
                var refresh = function () {
                    var path = pathOf(pathInput.val());
                    $("#node-input-webhook-url").val(path ? webhookUrl(path) : "");
                    $(".verified-webhooks-path-warning").toggle(path !== "" && nodesOnPath(node, path).length > 0);
                };
                pathInput.attr("placeholder", defaultPath).on("change keyup input", refresh);
                refresh();
                $("#node-input-copy-url").on("click", function () {
                    RED.clipboard.copyText($("#node-input-webhook-url").val(), $(this), "clipboard.copyMessageValue");
                });

                var select = $("#node-input-test-event");
                loadSamples(function (all) {
                    (all[provider] || []).forEach(function (name) {
                        $("<option>").val(name).text(name).appendTo(select);
                    });
                });
                $("#node-input-send-test").on("click", function () {
                    sendTestEvent(node, select.val());
                });
            },
        };
    }

    window.VerifiedWebhooks = { receiverEditor: receiverEditor, validPath: validPath, webhookUrl: webhookUrl, pathOf: pathOf };
})();
