/* Editor behaviour shared by the verified-webhooks receiver nodes. Each node's .html file
 * holds its template and its node definition, and takes behaviour from VerifiedWebhooks.receiverEditor. */
(function () {
    "use strict";
    if (window.VerifiedWebhooks) return; // loaded once, by the first receiver's editor file

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

    function isReceiver(node) {
        return /-webhook$/.test(node.type) && node._def && node._def.category === "webhooks";
    }

    function nodesOnPath(node, path) {
        var others = [];
        RED.nodes.eachNode(function (other) {
            if (other.id !== node.id && isReceiver(other) && !other.d && pathOf(other.path) === path) others.push(other);
        });
        return others;
    }

    // What the runtime found wrong with each node's path and secret (POST verified-webhooks/check):
    // the validators read it, so the node shows the red triangle and the deploy warns.
    var problems = {};
    var checkTimers = {};

    /** The secret as the node holds it in the editor: typed in the dialog or saved from it; undefined if never loaded (the runtime's is checked). */
    function editedSecret(node) {
        var open = $("#node-input-secret");
        if (open.length && open.data("verified-webhooks-node") === node.id) {
            var typed = open.val();
            return typed === "__PWRD__" ? undefined : typed;
        }
        var credentials = node.credentials;
        if (!credentials || credentials.secret === undefined || credentials.secret === "__PWRD__") return undefined;
        return credentials.secret;
    }

    function revalidate(node) {
        if (!RED.nodes.node(node.id)) return;
        RED.editor.validateNode(node);
        RED.view.redraw(true);
        showProblems(node);
    }

    /** Asks the runtime, a little after the last change, what would keep `node` from listening. */
    function check(node, pathValue) {
        clearTimeout(checkTimers[node.id]);
        checkTimers[node.id] = setTimeout(function () {
            delete checkTimers[node.id];
            var body = { type: node.type, id: node.id, path: pathValue === undefined ? node.path : pathValue };
            var secret = editedSecret(node);
            if (secret !== undefined) body.secret = secret;
            $.ajax({
                url: "verified-webhooks/check",
                type: "POST",
                data: JSON.stringify(body),
                contentType: "application/json; charset=utf-8",
                success: function (answer) {
                    if (!RED.nodes.node(node.id)) return; // deleted meanwhile
                    problems[node.id] = { path: answer.path || null, secret: answer.secret || null, checkedPath: body.path };
                    revalidate(node);
                },
                // No permission to ask (a read-only user): the runtime's status still tells.
                error: function () {},
            });
        }, 250);
    }

    function checkAll() {
        RED.nodes.eachNode(function (node) {
            if (isReceiver(node)) check(node);
        });
    }

    /** Validator of the path (Node-RED 3+ form: a reason, or true). */
    function validatePath(value, _options) {
        var node = this;
        if (pathOf(value) === "") return node._("webhook.invalid.noPath");
        if (UNSAFE_PATH.test(String(value))) return node._("webhook.invalid.unsafePath");
        var found = problems[node.id];
        // The runtime's answer holds for the path it was asked about; another is checked anew.
        if (found && found.path && pathOf(value) === pathOf(found.checkedPath)) return found.path;
        return true;
    }

    /** Validator of the secret, through a property of its own (Node-RED validates no credential). */
    function validateSecret(_value, _options) {
        var found = problems[this.id];
        return found && found.secret ? found.secret : true;
    }

    /** Under each field the dialog shows, the reason it is invalid, not only a red border. */
    function showProblems(node) {
        var form = $("#node-input-path").closest("form");
        if (!form.length || $("#node-input-secret").data("verified-webhooks-node") !== node.id) return;
        var pathReason = validatePath.call(node, $("#node-input-path").val());
        $(".verified-webhooks-problem-path").toggle(pathReason !== true).find("span").text(pathReason === true ? "" : pathReason);
        // The runtime answers after Node-RED checked the field: its mark follows the answer.
        $("#node-input-path").toggleClass("input-error", pathReason !== true);
        var secretReason = validateSecret.call(node);
        $(".verified-webhooks-problem-secret").toggle(secretReason !== true).find("span").text(secretReason === true ? "" : secretReason);
        $("#node-input-secret").toggleClass("input-error", secretReason !== true);
    }

    var samples; // provider → sample event names, from the runtime
    function loadSamples(done) {
        if (samples) return done(samples);
        $.getJSON("verified-webhooks/samples", function (data) {
            samples = data;
            done(samples);
        });
    }

    function sendTestEvent(node, eventName, repeat) {
        if (node.changed || !node._def) {
            RED.notify(node._("webhook.test.undeployed"), "warning");
            return;
        }
        $.ajax({
            url: "verified-webhooks/" + node.id + "/test",
            type: "POST",
            data: JSON.stringify({ event: eventName || "", repeat: repeat === true }),
            contentType: "application/json; charset=utf-8",
            success: function (result) {
                var ok = result.status >= 200 && result.status < 300;
                var duplicate = ok && result.outcome === "duplicate";
                var key = !ok ? "webhook.test.refused" : duplicate ? "webhook.test.duplicate" : "webhook.test.sent";
                var message = node._(key, {
                    event: result.event,
                    status: result.status,
                    body: String(result.body).slice(0, 200),
                    id: String(result.deliveryId || "").slice(0, 8),
                });
                // As text: the answer's body and reasons may quote what was sent.
                var notice = $("<div>").append($("<p>").text(message));
                if (result.deliveryId && window.VerifiedWebhooksLog) {
                    $('<a href="#" class="verified-webhooks-show-delivery">')
                        .text(node._("webhook.test.show"))
                        .on("click", function (event) {
                            event.preventDefault();
                            window.VerifiedWebhooksLog.show(result.deliveryId);
                        })
                        .appendTo(notice);
                }
                RED.notify(notice, { type: !ok || duplicate ? "warning" : "success", timeout: ok && !duplicate ? 4000 : 8000 });
            },
            error: function (xhr) {
                var reason = xhr.status === 404 ? node._("webhook.test.undeployed") : (xhr.responseJSON && xhr.responseJSON.error) || xhr.status;
                RED.notify($("<p>").text(node._("webhook.test.failed", { reason: String(reason) })), "error");
            },
        });
    }

    // Rows every receiver's dialog shares, put where its template holds these placeholders.
    // The tips that matter when filling the dialog stay here; the rest is in the help.
    var COMMON_ROWS = [
        '<div class="form-row">',
        '  <label for="node-input-name"><i class="fa fa-tag"></i> <span data-i18n="webhook.label.name"></span></label>',
        '  <input type="text" id="node-input-name" data-i18n="[placeholder]webhook.label.name">',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-path"><i class="fa fa-globe"></i> <span data-i18n="webhook.label.path"></span></label>',
        '  <input type="text" id="node-input-path">',
        "</div>",
        '<div class="form-row form-tips verified-webhooks-problem verified-webhooks-problem-path" style="display:none"><i class="fa fa-exclamation-triangle"></i> <span></span></div>',
        '<div class="form-row form-tips verified-webhooks-path-warning" style="display:none"><i class="fa fa-exclamation-triangle"></i> <span data-i18n="webhook.tip.pathInUse"></span></div>',
        '<div class="form-row">',
        '  <label for="node-input-webhook-url"><i class="fa fa-link"></i> <span data-i18n="webhook.label.url"></span></label>',
        '  <input type="text" id="node-input-webhook-url" readonly style="width: calc(70% - 76px)">',
        '  <button type="button" class="red-ui-button" id="node-input-reveal-url" style="display:none" data-i18n="[title]webhook.label.reveal"><i class="fa fa-eye"></i></button>',
        '  <button type="button" class="red-ui-button" id="node-input-copy-url" data-i18n="[title]webhook.label.copy"><i class="fa fa-copy"></i></button>',
        "</div>",
        '<div class="form-row form-tips" data-i18n="[html]__TYPE__.tip.url"></div>',
        '<div class="form-row">',
        '  <label for="node-input-secret"><i class="fa fa-key"></i> <span data-i18n="webhook.label.secret"></span></label>',
        '  <textarea id="node-input-secret" rows="2" autocomplete="off" spellcheck="false" data-i18n="[placeholder]__TYPE__.placeholder.secret"' +
            ' style="width:70%; resize:vertical; font-family:monospace; -webkit-text-security:disc"></textarea>',
        "</div>",
        '<div class="form-row form-tips verified-webhooks-problem verified-webhooks-problem-secret" style="display:none"><i class="fa fa-exclamation-triangle"></i> <span></span></div>',
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
        '<div class="form-row">',
        '  <label for="node-input-bodyTimeoutSeconds"><i class="fa fa-clock-o"></i> <span data-i18n="webhook.label.bodyTimeout"></span></label>',
        '  <input type="text" id="node-input-bodyTimeoutSeconds" style="width:100px"> <span data-i18n="webhook.label.seconds"></span>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-maxConcurrent"><i class="fa fa-tachometer"></i> <span data-i18n="webhook.label.maxConcurrent"></span></label>',
        '  <input type="text" id="node-input-maxConcurrent" style="width:100px"> <span data-i18n="webhook.label.deliveries"></span>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-state"><i class="fa fa-database"></i> <span data-i18n="webhook.label.state"></span></label>',
        '  <input type="text" id="node-input-state">',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-logDeliveries"><i class="fa fa-list-alt"></i> <span data-i18n="webhook.label.log"></span></label>',
        '  <input type="text" id="node-input-logDeliveries" style="width:80px"> <span data-i18n="webhook.label.logDeliveries"></span>',
        '  <input type="text" id="node-input-logHours" style="width:60px"> <span data-i18n="webhook.label.logHours"></span>',
        "</div>",
        '<div class="form-row">',
        '  <label for="node-input-keep" style="width:auto"><input type="checkbox" id="node-input-keep" style="display:inline-block; width:auto; vertical-align:top;"> <span data-i18n="webhook.label.keep"></span></label>',
        "</div>",
        '<div class="form-row verified-webhooks-max-attempts">',
        '  <label for="node-input-maxAttempts"><i class="fa fa-repeat"></i> <span data-i18n="webhook.label.maxAttempts"></span></label>',
        '  <input type="text" id="node-input-maxAttempts" style="width:80px">',
        "</div>",
        '<div class="form-row form-tips" data-i18n="webhook.tip.keep"></div>',
        "<hr>",
        '<div class="form-row">',
        '  <label for="node-input-test-event"><i class="fa fa-paper-plane"></i> <span data-i18n="webhook.label.test"></span></label>',
        '  <select id="node-input-test-event" style="width: calc(70% - 230px)"></select>',
        '  <button type="button" class="red-ui-button" id="node-input-send-test" style="width:150px"><i class="fa fa-paper-plane"></i> <span data-i18n="webhook.label.send"></span></button>',
        '  <button type="button" class="red-ui-button" id="node-input-repeat-test" style="width:70px" data-i18n="[title]webhook.label.repeatTitle"><i class="fa fa-clone"></i> <span data-i18n="webhook.label.repeat"></span></button>',
        "</div>",
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
     * The palette's filter looks at a node's type and palette label only: words a user
     * searches for ("nuralogix", "svix", "openai") are added to what it matches.
     */
    function addSearchTerms(type, terms) {
        if (!terms) return;
        var apply = function () {
            var element = $('.red-ui-palette-node[data-palette-type="' + type + '"]');
            var label = element.attr("data-palette-label");
            if (label !== undefined && label.indexOf(terms) === -1) element.attr("data-palette-label", label + " " + terms);
        };
        RED.events.on("registry:node-type-added", function (added) {
            if (added === type) setTimeout(apply, 0);
        });
        setTimeout(apply, 0);
    }

    /** The Webhook URL field: with the token of a provider that signs nothing, masked until revealed; the copy button copies it whole. */
    function urlField(node, tokenInPath) {
        var pathInput = $("#node-input-path");
        var field = $("#node-input-webhook-url");
        var revealButton = $("#node-input-reveal-url");
        var revealed = false;
        var storedToken; // the deployed node's token, once asked for

        /** The token the URL carries: typed in the dialog, else the deployed node's (asked for on reveal or copy). */
        var typedToken = function () {
            var typed = $("#node-input-secret").val();
            if (typed === undefined || typed === "__PWRD__") return undefined;
            return String(typed).split(/\r?\n/)[0].trim();
        };
        var hasToken = function () {
            var typed = typedToken();
            return typed !== undefined ? typed !== "" : Boolean(node.credentials && node.credentials.has_secret);
        };
        var urlWith = function (token) {
            var path = pathOf(pathInput.val());
            if (!path) return "";
            return webhookUrl(path) + (token ? "/" + encodeURIComponent(token) : "");
        };
        var withToken = function (done) {
            var typed = typedToken();
            if (typed !== undefined) return done(typed);
            if (storedToken !== undefined) return done(storedToken);
            $.getJSON("verified-webhooks/nodes/" + encodeURIComponent(node.id) + "/token", function (answer) {
                storedToken = answer.token || "";
                done(storedToken, answer.env);
            }).fail(function () {
                done(undefined);
            });
        };
        var refresh = function () {
            var showToken = tokenInPath && hasToken();
            revealButton.toggle(showToken);
            revealButton.find("i").toggleClass("fa-eye", !revealed).toggleClass("fa-eye-slash", revealed);
            if (!showToken) return field.val(urlWith(""));
            if (!revealed) return field.val(urlWith("") + "/••••••••");
            withToken(function (token, env) {
                field.val(env ? urlWith("") + "/${" + env + "}" : urlWith(token));
            });
        };
        pathInput.on("change keyup input", refresh);
        $("#node-input-secret").on("change keyup input", function () {
            storedToken = undefined;
            refresh();
        });
        revealButton.on("click", function () {
            revealed = !revealed;
            refresh();
        });
        $("#node-input-copy-url").on("click", function () {
            var button = $(this);
            var copy = function (url) {
                RED.clipboard.copyText(url, button, "clipboard.copyMessageValue");
            };
            if (!(tokenInPath && hasToken())) return copy(urlWith(""));
            withToken(function (token) {
                copy(urlWith(token));
            });
        });
        refresh();
    }

    /**
     * What every receiver's definition shares. Each editor file spells out its own
     * definition (category, colour, defaults, credentials, inputs, outputs, icon) as literals,
     * the form the Flow Library and `node-red-dev validate` read, and takes its behaviour
     * from here. `provider` names its samples; `defaultPath` is the path a new node gets.
     */
    function receiverEditor(type, provider, paletteLabel, defaultPath, options) {
        options = options || {};
        completeTemplate(type);
        addSearchTerms(type, options.searchTerms);
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
                $("#node-input-secret").data("verified-webhooks-node", node.id);
                // A node saved before an option existed (the examples, older flows) shows its default, as the runtime uses it.
                Object.keys(node._def.defaults).forEach(function (key) {
                    var input = $("#node-input-" + key);
                    if (node[key] !== undefined && node[key] !== "") return;
                    var fallback = node._def.defaults[key].value;
                    if (input.is(":checkbox")) input.prop("checked", Boolean(fallback));
                    else if (input.length && fallback !== "" && input.val() === "") input.val(fallback);
                });
                // Flows saved by 0.2 and before name "Keep deliveries until handled" persist: shown, and saved, as keep.
                if ((node.keep === undefined || node.keep === "") && node.persist !== undefined && node.persist !== "") {
                    $("#node-input-keep").prop("checked", node.persist === true || node.persist === "true");
                }
                var keep = $("#node-input-keep");
                var showAttempts = function () {
                    $(".verified-webhooks-max-attempts").toggle(keep.is(":checked"));
                };
                keep.on("change", showAttempts);
                showAttempts();

                var pathInput = $("#node-input-path");
                var refreshPath = function () {
                    var path = pathOf(pathInput.val());
                    $(".verified-webhooks-path-warning").toggle(path !== "" && nodesOnPath(node, path).length > 0);
                    showProblems(node);
                };
                pathInput.attr("placeholder", defaultPath).on("change keyup input", function () {
                    refreshPath();
                    check(node, pathInput.val());
                });
                $("#node-input-secret").on("change keyup input", function () {
                    check(node, pathInput.val());
                });
                refreshPath();
                check(node, pathInput.val());
                urlField(node, options.tokenInPath === true);

                var select = $("#node-input-test-event");
                loadSamples(function (all) {
                    (all[provider] || []).forEach(function (name) {
                        $("<option>").val(name).text(name).appendTo(select);
                    });
                });
                $("#node-input-send-test").on("click", function () {
                    sendTestEvent(node, select.val());
                });
                $("#node-input-repeat-test").on("click", function () {
                    sendTestEvent(node, select.val(), true);
                });
            },
            onpaletteadd: function () {
                window.VerifiedWebhooksLog.typeAdded(type);
            },
            onpaletteremove: function () {
                window.VerifiedWebhooksLog.typeRemoved(type);
            },
            oneditsave: function () {
                this.persist = ""; // saved as keep from now on
                $("#node-input-secret").removeData("verified-webhooks-node");
                check(this);
            },
            oneditcancel: function () {
                $("#node-input-secret").removeData("verified-webhooks-node");
                check(this);
            },
        };
    }

    RED.events.on("flows:loaded", checkAll);
    RED.events.on("deploy", checkAll);
    RED.events.on("nodes:add", function (node) {
        if (isReceiver(node)) check(node);
    });
    // A deleted node's answer goes with it (undoing the deletion adds the node, and checks it, again).
    RED.events.on("nodes:remove", function (node) {
        clearTimeout(checkTimers[node.id]);
        delete checkTimers[node.id];
        delete problems[node.id];
    });

    window.VerifiedWebhooks = {
        receiverEditor: receiverEditor,
        validPath: validPath,
        validatePath: validatePath,
        validateSecret: validateSecret,
        webhookUrl: webhookUrl,
        pathOf: pathOf,
    };
})();
