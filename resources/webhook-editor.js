/* Shared editor behaviour of the verified-webhooks receiver nodes. */
(function () {
    "use strict";
    if (window.VerifiedWebhooks) return; // every node's editor file loads this script
    var PALETTE_COLOUR = "#C7E9C0";

    function pathOf(value) {
        var segments = String(value || "").split("/").filter(Boolean);
        return segments.length ? "/" + segments.join("/") : "";
    }

    /** The URL to paste into the provider's console: editor address + httpNodeRoot + path. */
    function webhookUrl(path) {
        var root = (RED.settings.httpNodeRoot || "/").replace(/\/$/, "");
        var here = document.location;
        var adminRoot = (RED.settings.httpAdminRoot || "/").replace(/\/$/, "");
        var base = here.protocol + "//" + here.host;
        // The editor may sit behind a proxy prefix: keep whatever precedes httpAdminRoot.
        var prefix = here.pathname.replace(/\/$/, "");
        if (adminRoot && prefix.slice(-adminRoot.length) === adminRoot) prefix = prefix.slice(0, -adminRoot.length);
        return base + prefix + root + pathOf(path);
    }

    function otherNodesOnPath(node, path) {
        var clashes = [];
        RED.nodes.eachNode(function (other) {
            if (other.id !== node.id && /-webhook$/.test(other.type) && pathOf(other.path) === path && !other.d) {
                clashes.push(other);
            }
        });
        return clashes;
    }

    // Rows every receiver's dialog shares, inserted where its template says
    // <div class="verified-webhooks-common"></div>; provider rows follow.
    var COMMON_ROWS = [
        '<div class="form-row">',
        '  <label for="node-input-name"><i class="fa fa-tag"></i> <span data-i18n="webhook.label.name"></span></label>',
        '  <input type="text" id="node-input-name">',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-path"><i class="fa fa-globe"></i> <span data-i18n="webhook.label.path"></span></label>',
        '  <input type="text" id="node-input-path" placeholder="/webhook">',
        "</div>",
        '<div class="form-row form-tips" id="node-input-path-warning" style="display:none" data-i18n="webhook.label.pathInUse"></div>',
        '<div class="form-row">',
        '  <label for="node-input-webhook-url"><i class="fa fa-link"></i> <span data-i18n="webhook.label.url"></span></label>',
        '  <input type="text" id="node-input-webhook-url" readonly style="width: calc(70% - 40px)">',
        '  <button type="button" class="red-ui-button" id="node-input-copy-url"><i class="fa fa-copy"></i></button>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-secret"><i class="fa fa-key"></i> <span data-i18n="webhook.label.secret"></span></label>',
        '  <textarea id="node-input-secret" rows="2" autocomplete="off" spellcheck="false" style="width:70%; -webkit-text-security:disc; font-family:monospace"></textarea>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="[html]webhook.label.secretHint"></div>',
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
    ].join("\n");

    function completeTemplate(type) {
        var template = $('script[data-template-name="' + type + '"]');
        template.text(
            template.text()
                .replace('<div class="verified-webhooks-common"></div>', COMMON_ROWS)
                .replace('<div class="verified-webhooks-limits"></div>', LIMIT_ROWS),
        );
    }

    /**
     * Registers a receiver node type. `spec` gives its colour-free differences: icon,
     * provider-specific defaults and whether a secret is required.
     */
    function register(type, spec) {
        var defaults = {
            name: { value: "" },
            path: {
                value: spec.path,
                required: true,
                validate: function (value) { return pathOf(value) !== ""; },
            },
            maxBodyKiB: { value: 1024, validate: RED.validators.number(true) },
            dedupSeconds: { value: 600, validate: RED.validators.number(true) },
        };
        Object.keys(spec.defaults || {}).forEach(function (key) { defaults[key] = spec.defaults[key]; });

        completeTemplate(type);
        RED.nodes.registerType(type, {
            category: "webhooks",
            color: PALETTE_COLOUR,
            defaults: defaults,
            credentials: { secret: { type: "password", required: !!spec.secretRequired } },
            inputs: 0,
            outputs: 2,
            icon: spec.icon,
            paletteLabel: spec.paletteLabel,
            outputLabels: function (index) {
                return this._(index === 0 ? "webhook.outputs.events" : "webhook.outputs.rejected");
            },
            label: function () { return this.name || spec.paletteLabel + " " + pathOf(this.path); },
            labelStyle: function () { return this.name ? "node_label_italic" : ""; },
            oneditprepare: function () {
                var node = this;
                var pathInput = $("#node-input-path");
                var showUrl = function () {
                    var path = pathOf(pathInput.val());
                    $("#node-input-webhook-url").val(path ? webhookUrl(path) : "");
                    var clashes = path ? otherNodesOnPath(node, path) : [];
                    $("#node-input-path-warning").toggle(clashes.length > 0);
                };
                pathInput.on("change keyup", showUrl);
                showUrl();
                $("#node-input-copy-url").on("click", function () {
                    RED.clipboard.copyText($("#node-input-webhook-url").val(), $(this), "clipboard.copyMessageValue");
                });
                if (spec.oneditprepare) spec.oneditprepare.call(this);
            },
        });
    }

    window.VerifiedWebhooks = { register: register, webhookUrl: webhookUrl, pathOf: pathOf };
})();
