-- KEMI routing for etc/examples/kemi.cfg (siprd and Kamailio 5.6 + app_lua).

-- SIP requests
function ksr_request_route()
	local n = KSR.htable.sht_inc("calls", "total")
	-- one event per request to the evapi clients (seed 003)
	KSR.evapi.relay("{ \"event\": \"request\", \"data\": { \"fU\": \""
		.. KSR.pv.gete("$fU") .. "\", \"n\": " .. n .. " } }")
	if KSR.is_OPTIONS() then
		KSR.sl.send_reply(200, "OK")
		return
	end
	if KSR.is_INVITE() then
		-- park the transaction; an evapi client resumes it with
		-- {"resume": "<index>:<label>"} (seed 002/003)
		KSR.tm.t_on_failure("ksr_failure")
		if KSR.tm.t_suspend() > 0 then
			KSR.evapi.relay("{ \"event\": \"suspended\", \"tx\": \""
				.. KSR.pv.get("$T(id_index)") .. ":" .. KSR.pv.get("$T(id_label)") .. "\" }")
		end
		return
	end
	KSR.sl.send_reply(501, "Not Implemented")
end

-- a resumed transaction (KSR.tmx.t_continue)
function ksr_resume()
	KSR.info("resumed " .. KSR.pv.get("$ci") .. "\n")
	KSR.tm.t_reply(486, "Busy Here")
end

-- the transaction timed out while suspended
function ksr_failure()
	KSR.info("failure " .. KSR.pv.get("$T_reply_code") .. "\n")
end

-- htable:mod-init (seed 000): runs once before traffic
function ksr_htable_event(evname)
	KSR.htable.sht_seti("calls", "total", 0)
	KSR.info(evname .. ": counters ready\n")
end

-- evapi:connection-new / connection-closed / message-received (seed 003)
function ksr_evapi_event(evname)
	if evname ~= "evapi:message-received" then
		KSR.info(evname .. " " .. KSR.pv.gete("$evapi(srcaddr)") .. "\n")
		return
	end
	if KSR.jansson.get("resume", KSR.pv.gete("$evapi(msg)"), "$var(tx)") > 0 then
		local tx = KSR.pv.gete("$var(tx)")
		local idx, label = string.match(tx, "^(%d+):(%d+)$")
		if idx then
			KSR.tmx.t_continue(tonumber(idx), tonumber(label), "ksr_resume")
		end
	end
end

-- evrexec (seed 001): a start-up task, gets the worker index
function ksr_startup(idx)
	KSR.info("evrexec start-up task, worker " .. idx .. "\n")
end
