# jansson: parse an app's JSON (nested, arrays, types), build replies with
# jansson_set, route by fields.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "jansson.so"
request_route {
    if (!has_body()) { sl_send_reply("400", "no body"); exit; }
    $var(j) = $rb;
    $var(ok) = jansson_get("user.name", "$var(j)", "$var(name)");
    jansson_get("user.age", "$var(j)", "$var(age)");
    jansson_get("tags[1]", "$var(j)", "$var(tag1)");
    jansson_get("tags", "$var(j)", "$var(tags)");
    $var(n) = 0;
    jansson_array_size("tags", "$var(j)", "$var(n)");
    jansson_get("flag", "$var(j)", "$var(flag)");
    jansson_get("ratio", "$var(j)", "$var(ratio)");
    jansson_get("nothing", "$var(j)", "$var(nothing)");
    jansson_get("user", "$var(j)", "$var(user)");
    xlog("L_INFO", "@@$ci ok=$var(ok) name=$var(name) age=$var(age) t1=$var(tag1) tags=$var(tags) n=$var(n) flag=$var(flag) ratio=$var(ratio) nothing=$var(nothing) user=$var(user)\n");
    $var(out) = '{}';
    jansson_set("string", "who", "$var(name)", "$var(out)");
    jansson_set("int", "next", "$var(age)", "$var(out)");
    jansson_set("real", "r", "1.25", "$var(out)");
    jansson_set("true", "ok", "", "$var(out)");
    jansson_set("null", "none", "", "$var(out)");
    jansson_set("array", "list", "[1,\"two\"]", "$var(out)");
    jansson_set("object", "meta.inner", "{\"k\":\"v\"}", "$var(out)");
    jansson_append("int", "list", "3", "$var(out)");
    $var(r) = jansson_set("int", "bad", "x1", "$var(out)");
    xlog("L_INFO", "@@$ci out=$var(out) r=$var(r)\n");
    append_to_reply("X-Out: $var(out)\r\n");
    sl_send_reply("200", "json");
}
'''
def drive(env):
    docs = [
        '{"user":{"name":"alice","age":41},"tags":["a","b","c"],"flag":true,"ratio":0.5}',
        '{"user":{"name":"bob"},"tags":[],"flag":false,"ratio":3}',
        '[1,2,3]',
        'not json',
        '{"user":{"name":"","age":"12"},"tags":{"x":1},"flag":null,"ratio":-1e3}',
        '{"user":{"name":"\\u00e9\\n","age":2147483648}}',
    ]
    for i, d in enumerate(docs):
        env.sip(request("MESSAGE", "sip:x@127.0.0.1", f"j{i}", extra="Content-Type: application/json", body=d), wait=0.3, full=True)
