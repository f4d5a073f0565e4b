# Writes src/http/openapi.json. Edit the routes here, run `python3 tools/openapi.py`; a unit test
# (http::openapi) checks that every served /api/v1 route is documented and vice versa.
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
err = {"description": "Error", "content": {"application/json": {"schema": ref("Error")}}}
def op(summary, tag, body=None, params=(), ok="OK", auth=True, okschema=None, status="200", query=()):
    o = {"summary": summary, "tags": [tag], "responses": {status: {"description": ok}, "4XX": err}}
    if okschema: o["responses"][status]["content"] = {"application/json": {"schema": okschema}}
    ps = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    ps += [{"name": q, "in": "query", "required": req, "schema": t if isinstance(t, dict) else {"type": t}} for q, t, req in query]
    if ps: o["parameters"] = ps
    if body: o["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if not auth: o["security"] = []
    return o
obj = lambda props, req=None: {"type": "object", "additionalProperties": False, "properties": props, "required": req or list(props)}
s, i, b = {"type": "string"}, {"type": "integer", "format": "int64"}, {"type": "boolean"}
dt = {"type": "string", "format": "date-time"}
paths = {
 "/api/v1/auth/login": {"post": op("Log in with a password; returns a Bearer token", "identity", "LoginRequest", auth=False)},
 "/api/v1/auth/logout": {"post": op("Log out: the caller's session is revoked on the server, its token stops working", "identity")},
 "/api/v1/me": {"get": op("The logged-in user", "identity")},
 "/api/v1/me/password": {"post": op("Change one's own password; every session of the caller's is revoked (log in again)", "identity", "PasswordChange")},
 "/api/v1/companies": {"post": op("A bidder company registers itself with its first user (pending approval)", "identity", "RegisterCompany", auth=False, status="201", ok="Created")},
 "/api/v1/organisations": {"get": op("All organisations (operator, regulator)", "identity"), "post": op("Create an organisation (operator)", "identity", "NewOrg", status="201", ok="Created")},
 "/api/v1/organisations/{org_id}/approve": {"post": op("Approve a pending company (operator)", "identity", params=["org_id"])},
 "/api/v1/organisations/{org_id}/reject": {"post": op("Reject a pending company (operator)", "identity", params=["org_id"])},
 "/api/v1/users": {"get": op("All users (operator, regulator)", "identity"), "post": op("Create a user (operator)", "identity", "NewUser", status="201", ok="Created")},
 "/api/v1/users/{user_id}/disable": {"post": op("Disable a user (operator)", "identity", params=["user_id"])},
 "/api/v1/users/{user_id}/enable": {"post": op("Enable a user (operator)", "identity", params=["user_id"])},
 "/api/v1/tenders": {"get": op("Public tenders, newest first, with Chinese substring search", "tenders", auth=False, query=[("q","string",False),("limit",{"type":"integer","minimum":0,"maximum":2**32-1},False),("offset",{"type":"integer","minimum":0,"maximum":2**32-1},False)]),
                     "post": op("Draft a tender (agent)", "tenders", "TenderInput", status="201", ok="Created")},
 "/api/v1/tenders/{code}": {"get": op("One tender with documents, amendments and answered questions", "tenders", params=["code"], auth=False),
                            "put": op("Replace a draft (owning agent)", "tenders", "TenderInput", params=["code"])},
 "/api/v1/tenders/{code}/documents": {"post": {**op("Upload a tender document as the raw body (owning agent); ?filename= and optional ?amendment_id=", "tenders", params=["code"], query=[("filename","string",True),("amendment_id","string",False)], status="201", ok="Created"),
      "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}},
 "/api/v1/tenders/{code}/documents/{document_id}": {"get": op("Download a document (bidders of approved companies; recorded with IP and user agent)", "tenders", params=["code","document_id"])},
 "/api/v1/tenders/{code}/publish": {"post": op("Publish a draft; refused with every broken rule and its article (422)", "tenders", params=["code"])},
 "/api/v1/tenders/{code}/amendments": {"post": op("Publish an amendment; the deadline moves when fewer than 15 days remain (招标投标法 第23条)", "tenders", "AmendmentInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/questions": {"get": op("Questions as the caller may see them (askers never shown to other bidders)", "tenders", params=["code"], auth=False),
                                      "post": op("Ask a question (bidder, before the clarification cut-off)", "tenders", "QuestionInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/questions/{question_id}/answer": {"post": op("Answer a question publicly (owning agent)", "tenders", "AnswerInput", params=["code","question_id"])},
 "/api/v1/tenders/{code}/cancel": {"post": op("Cancel a tender with a reason (owning agent)", "tenders", "CancelInput", params=["code"])},
 "/api/v1/agent/tenders": {"get": op("The caller's agent organisation's tenders in any state", "tenders")},
 "/api/v1/notices": {"get": op("The caller's notices (e.g. amendments to documents they downloaded)", "tenders")},
 "/api/v1/notices/{notice_id}/read": {"post": op("Mark a notice read", "tenders", params=["notice_id"])},
 "/api/v1/audit/checkpoint": {"get": op("The latest signed checkpoint (C2SP tlog-checkpoint) with the verifier key", "audit", auth=False)},
 "/api/v1/audit/events": {"get": op("Audit events with their canonical entries and leaf hashes; entries withheld until their disclosure time (e.g. document downloads, 招标投标法 第22条) have entry null except for regulators", "audit", auth=False, query=[("from",{"type":"integer","minimum":0},False),("limit",{"type":"integer","minimum":1,"maximum":1000},False)])},
 "/api/v1/audit/nodes/{level}/{index}": {"get": op("A stored perfect-subtree hash of the Merkle tree", "audit", params=["level","index"], auth=False)},
 "/api/v1/audit/proof/inclusion": {"get": op("RFC 9162 inclusion proof of an event", "audit", auth=False, query=[("seq",{"type":"integer","minimum":0},True),("size",{"type":"integer","minimum":1},True)])},
 "/api/v1/audit/proof/consistency": {"get": op("RFC 9162 consistency proof between two tree sizes", "audit", auth=False, query=[("old",{"type":"integer","minimum":1},True),("new",{"type":"integer","minimum":1},True)])},
}
# The node's coordinates are integers (level 0–255 as u8, index as u64 within i64).
for p_ in paths["/api/v1/audit/nodes/{level}/{index}"]["get"]["parameters"]:
    p_["schema"] = {"type": "integer", "minimum": 0, "maximum": 255 if p_["name"] == "level" else 2**63 - 1}
schemas = {
 "Error": obj({"code": s, "message": s, "details": {}}, ["code","message"]),
 "LoginRequest": obj({"username": s, "password": s}),
 "PasswordChange": obj({"current_password": s, "new_password": {**s, "minLength": 10}}),
 "RegisterCompany": obj({"company_name": s, "uscc": {**s, "description": "统一社会信用代码, 18 characters, GB 32100-2015 check character"}, "username": s, "display_name": s, "password": {**s, "minLength": 10}}),
 "NewOrg": obj({"kind": {"type": "string", "enum": ["trading_centre","tenderee","agent","bidder","expert_employer","regulator"]}, "name": s, "uscc": s}, ["kind","name"]),
 "NewUser": obj({"username": s, "display_name": s, "role": {"type": "string", "enum": ["operator","agent","custodian","bidder","expert","regulator"]}, "org_id": s, "password": s}, ["username","display_name","role","password"]),
 "TenderInput": obj({"code": s, "title": s, "description": s, "category": s, "procedure": s, "tenderee_org_id": s,
    "estimated_price_fen": {**i, "description": "integer fen"}, "ceiling_price_fen": i, "bid_security_fen": i,
    "documents_available_at": dt, "documents_available_until": dt, "clarification_cutoff_at": dt, "bid_deadline_at": dt,
    "opening_place": s, "evaluation_method": {"type": "string", "enum": ["comprehensive","lowest_price"]},
    "criteria": {"type": "array", "items": obj({"name": s, "weight": {"type": "integer"}})},
    "expert_quotas": {"type": "array", "items": obj({"specialty": s, "count": {"type": "integer"}})},
    "custodians": {"type": "array", "items": s}},
    ["code","title","description","category","procedure","tenderee_org_id","estimated_price_fen","bid_security_fen","documents_available_at","clarification_cutoff_at","bid_deadline_at","opening_place","evaluation_method"]),
 "AmendmentInput": obj({"summary": s, "body": s}),
 "QuestionInput": obj({"body": s}),
 "AnswerInput": obj({"answer": s}),
 "CancelInput": obj({"reason": s}),
}

# ---- sealed bids (src/bid/routes.rs) ----
paths.update({
 "/api/v1/platform-key": {"get": op("The platform's Ed25519 key that signs receipts and checkpoints", "bids", auth=False)},
 "/api/v1/custodian/key": {"get": op("The caller's enrolled custodian public key", "bids"),
                           "post": op("Enrol a custodian key pair, its private half locked under a passphrase the server never keeps (fallback for passkeys without PRF; weak passphrases are refused with 422 WEAK_PASSPHRASE)", "bids", "Passphrase", status="201", ok="Created")},
 "/api/v1/custodian/key/passkey/start": {"post": op("Start enrolling a custodian key held by the caller's passkey: a PRF salt and an assertion ceremony binding it", "bids")},
 "/api/v1/custodian/key/passkey": {"post": op("Finish a passkey enrolment: the public key and the scalar wrapped in the browser under the passkey's PRF output, with the assertion", "bids", "PasskeyEnrol", status="201", ok="Created")},
 "/api/v1/tenders/{code}/opening-key": {"get": op("The tender's opening public key (HPKE P-256) that bids are sealed to", "bids", params=["code"], auth=False)},
 "/api/v1/tenders/{code}/bid/parts": {"post": {**op("Upload one sealed part (envelope, docs/seal-format.md), streamed; refused unless well-formed and bound to this tender and bidder", "bids", params=["code"], query=[("label","string",True),("name","string",False)], status="201", ok="Created"),
      "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}},
 "/api/v1/tenders/{code}/base-price": {"post": {**op("Seal the base price (标底) before the deadline (owning agent): an envelope with bidder_id base-price and plaintext {\"base_price_fen\": int}; replaces an earlier one; opened and published at the opening", "bids", params=["code"], status="201", ok="Created"),
      "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}},
 "/api/v1/tenders/{code}/bid/submit": {"post": op("Submit the uploaded parts as the bid; answers with a receipt signed by the platform key (the last submission counts)", "bids", "SubmitBid", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/bid/withdraw": {"post": op("Withdraw the bid before the deadline (撤回)", "bids", params=["code"])},
 "/api/v1/tenders/{code}/bid": {"get": op("The caller's bid on this tender and its receipt", "bids", params=["code"])},
 "/api/v1/tenders/{code}/opening": {"get": op("The opening ceremony (quorum progress) and, once opened, the opening record", "bids", params=["code"], auth=False)},
 "/api/v1/tenders/{code}/opening/start": {"post": op("Start the opening after the deadline (owning agent); fewer valid bids than the minimum fails the tender (流标)", "bids", params=["code"])},
 "/api/v1/tenders/{code}/opening/unlock": {"post": op("A custodian unlocks their share with their passphrase; at the quorum every bid is opened", "bids", "Passphrase", params=["code"])},
 "/api/v1/tenders/{code}/opening/unlock/passkey/start": {"post": op("A custodian whose key is held by a passkey starts an unlock: their sealed share, key record and an assertion ceremony bound to this unlock", "bids", params=["code"])},
 "/api/v1/tenders/{code}/opening/unlock/passkey": {"post": op("A custodian posts the share their browser opened, with the assertion; a share that is not the one issued is 422 WRONG_SHARE, counted like a wrong passphrase; at the quorum every bid is opened", "bids", "PasskeyUnlock", params=["code"])},
 "/api/v1/tenders/{code}/opening/confirm": {"post": op("A bidder confirms the opening record", "bids", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/opening/objections": {"post": op("A bidder raises an objection at the opening (开标异议)", "bids", "ObjectionInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/opening/objections/{objection_id}/answer": {"post": op("The agent answers an objection", "bids", "AnswerInput", params=["code","objection_id"])},
})
schemas.update({
 "Passphrase": obj({"passphrase": s}),
 "PasskeyEnrol": obj({"ceremony_id": s, "credential": {"type": "object"}, "prf_salt": s, "public_key": s, "nonce": s, "wrapped_key": s}),
 "PasskeyUnlock": obj({"ceremony_id": s, "credential": {"type": "object"}, "nonce": s, "share": s}),
 "SubmitBid": obj({"parts": {"type": "array", "items": s}}),
 "ObjectionInput": obj({"body": s}),
})

# ---- passkeys (src/identity/passkey_routes.rs) ----
paths.update({
 "/api/v1/passkeys": {"get": op("The caller's passkeys (no key material)", "passkeys")},
 "/api/v1/passkeys/{passkey_id}": {"delete": op("Remove one of the caller's passkeys", "passkeys", params=["passkey_id"])},
 "/api/v1/passkeys/register/start": {"post": op("Start registering a passkey (user verification required)", "passkeys")},
 "/api/v1/passkeys/register/finish": {"post": op("Finish registering a passkey", "passkeys", "PasskeyFinish", status="201", ok="Created")},
 "/api/v1/passkeys/login/start": {"post": op("Start a passkey login", "passkeys", "PasskeyLoginStart", auth=False)},
 "/api/v1/passkeys/login/finish": {"post": op("Finish a passkey login; returns a session token", "passkeys", "PasskeyFinish", auth=False)},
})
schemas.update({
 "PasskeyLoginStart": obj({"username": s}),
 "PasskeyFinish": obj({"ceremony_id": s, "credential": {"type": "object"}, "name": s}, ["ceremony_id","credential"]),
})

# ---- experts, draws and check-in (src/expert/routes.rs) ----
obj_any = {"type": "object"}
paths.update({
 "/api/v1/experts": {"get": op("The expert pool, filtered by q, specialty, status, region (operator, regulator)", "experts", query=[("q","string",False),("specialty","string",False),("status","string",False),("region","string",False)]),
                     "post": op("Add an expert to the pool (operator)", "experts", "ExpertInput", status="201", ok="Created")},
 "/api/v1/experts/import": {"post": {**op("Import experts from CSV; answers with the rows accepted and each rejected row with its reason (operator)", "experts"),
      "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}},
 "/api/v1/experts/me": {"get": op("The calling expert's own profile", "experts"), "put": op("An expert updates their region, unavailable dates and declared conflicts", "experts", "ExpertSelfInput")},
 "/api/v1/experts/{id}": {"get": op("One expert (operator, regulator)", "experts", params=["id"]), "put": op("Edit an expert (operator)", "experts", "ExpertInput", params=["id"])},
 "/api/v1/experts/{id}/suspend": {"post": op("Suspend an expert with a reason (operator)", "experts", "StatusInput", params=["id"])},
 "/api/v1/experts/{id}/bar": {"post": op("Bar an expert with a reason (operator)", "experts", "StatusInput", params=["id"])},
 "/api/v1/experts/{id}/reinstate": {"post": op("Reinstate an expert with a reason (operator)", "experts", "StatusInput", params=["id"])},
 "/api/v1/specialties": {"get": op("The coded specialty hierarchy", "experts", auth=False)},
 "/api/v1/tenders/{code}/draws": {"get": op("The tender's draws as the caller may see them (names for regulators, member numbers for the agent)", "draws", params=["code"]),
                                  "post": op("Request an expert draw (owning agent, supervisor recorded); the server commits to its secret in the audit log", "draws", "DrawRequestInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/draws/reveal": {"post": op("After the award: reveal the draw secrets and names so anyone can replay the draws", "draws", params=["code"])},
 "/api/v1/tenders/{code}/committee": {"get": op("The committee's confirmation and check-in status; ready when complete", "draws", params=["code"])},
 "/api/v1/tenders/{code}/checkin/start": {"post": op("Start a passkey check-in (drawn and confirmed expert, inside the window)", "draws", params=["code"])},
 "/api/v1/tenders/{code}/checkin/finish": {"post": op("Finish a passkey check-in with a user-verified assertion", "draws", "CheckinFinish", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/checkin/emergency": {"post": op("A supervisor records an emergency check-in with a written reason", "draws", "EmergencyCheckin", params=["code"], status="201", ok="Created")},
 "/api/v1/draws/{id}": {"get": op("One draw as the caller may see it; each view of the list is audited", "draws", params=["id"])},
 "/api/v1/draws/{id}/supervisor-input": {"post": op("The supervisor's own random input; the draw runs right after it", "draws", "SupervisorInput", params=["id"])},
 "/api/v1/draws/{id}/public": {"get": op("The public replay record after the reveal (secret, supervisor input, audit root, eligible pool)", "draws", params=["id"], auth=False)},
 "/api/v1/expert/assignments": {"get": op("The calling expert's draws and their state", "draws")},
 "/api/v1/expert/assignments/{draw_id}/confirm": {"post": op("Confirm an assignment within the window", "draws", params=["draw_id"])},
 "/api/v1/expert/assignments/{draw_id}/decline": {"post": op("Decline an assignment; a replacement is drawn the same way", "draws", "DeclineInput", params=["draw_id"])},
})
schemas.update({
 "ExpertInput": obj_any, "ExpertSelfInput": obj_any, "StatusInput": obj({"reason": s}),
 "DrawRequestInput": obj_any, "SupervisorInput": obj({"input": s}), "DeclineInput": obj({"reason": s}, []),
 "CheckinFinish": obj({"ceremony_id": s, "credential": obj_any}), "EmergencyCheckin": obj_any,
})

# ---- evaluation (src/evaluation/routes.rs) ----
paths.update({
 "/api/v1/tenders/{code}/evaluation": {"get": op("The evaluation as the caller may see it (owning agent, committee, operators, regulators); only counts until every member's score sheets are in; members by pseudonym to the agent and operators until the award (members_withheld)", "evaluation", params=["code"]),
                                       "post": op("Start the evaluation (owning agent, tender opened, committee checked in): forms the committee (招标投标法 第37条); refused with the rule and article", "evaluation", "EvaluationStart", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/ballots": {"post": op("A member's one ballot for the committee leader (组长推选); counted when all have voted", "evaluation", "EvaluationBallot", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/review-marks": {"post": op("A member's preliminary review marks (pass/fail with reason), never changed; decided once complete", "evaluation", "ReviewMarks", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/scores": {"post": op("A member submits every score sheet once (hundredths of a point); ranked when all are in", "evaluation", "ScoreSheets", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/price-table": {"post": op("Lowest evaluated price: the leader records the committee's price comparison table (标价比较表) once; the bids are ranked by evaluated price and the report written at once. Every bad line at once: 422 PRICE_TABLE_INVALID", "evaluation", "PriceTable", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/report/sign/start": {"post": op("Start a member's passkey signature over the report; the challenge is the report's SHA-256 (refused before every score is in)", "evaluation", params=["code"])},
 "/api/v1/tenders/{code}/evaluation/report/sign/finish": {"post": op("Finish the signature with a user-verified assertion over the report's SHA-256 (实施条例 第53条)", "evaluation", "CheckinFinish", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/report/dissent": {"post": op("A member dissents from the report with a written reason (实施条例 第53条)", "evaluation", "StatusInput", params=["code"], status="201", ok="Created")},
})
schemas.update({
 "EvaluationStart": obj_any, "EvaluationBallot": obj({"for": s}),
 "ReviewMarks": obj({"marks": {"type": "array", "items": obj({"bid_id": s, "criterion": s, "verdict": {"type": "string", "enum": ["pass","fail"]}, "reason": s}, ["bid_id","criterion","verdict"])}}),
 "ScoreSheets": obj({"sheets": {"type": "array", "items": obj({"bid_id": s, "scores": {"type": "object", "additionalProperties": i}})}}),
 "PriceTable": obj({"adjustments": {"type": "array", "items": obj({"bid_id": s, "amount_fen": i, "reason": s}, ["bid_id","amount_fen","reason"])}}, ["adjustments"]),
})

# Clarifications (澄清, 实施条例 第52条) and member replacement (实施条例 第48条), docs/evaluation.md.
paths.update({
 "/api/v1/tenders/{code}/evaluation/clarifications": {"get": op("The tender's clarifications: members and regulators all with who asked; the owning agent all without who asked; a bidder its own", "evaluation", params=["code"]),
                                                      "post": op("A checked-in member asks the bidder of one bid for a written clarification (evaluation in review or scoring); window 10–4320 minutes, default 60; the bidder's users get a notice", "evaluation", "ClarificationAsk", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/clarifications/{id}/answer": {"post": op("The bidder answers once, in writing, up to the deadline; late: 409 CLARIFICATION_EXPIRED, second answer: 409 CLARIFICATION_ALREADY_ANSWERED", "evaluation", "ClarificationAnswer", params=["code","id"], status="201", ok="Created")},
 "/api/v1/clarifications": {"get": op("The calling bidder's clarification requests across tenders (pending, answered, expired), newest first", "evaluation")},
 "/api/v1/tenders/{code}/evaluation/replacements": {"get": op("The tender's member replacements (agent: member numbers; members and regulators: ids too)", "evaluation", params=["code"]),
                                                    "post": op("The owning agent replaces a member (by member number, written reason): the member withdraws, a replacement draw is committed, the evaluation is suspended; a report already acted on needs void_signed_report", "evaluation", "ReplacementStart", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/evaluation/replacements/{id}/complete": {"post": op("Once the replacement expert confirmed and checked in: swap the member, void the replaced member's conclusions, go back to the step to redo", "evaluation", params=["code","id"])},
})
schemas.update({
 "ClarificationAsk": obj({"bid_id": s, "question": s, "window_minutes": {"type": "integer", "minimum": 10, "maximum": 4320}}, ["bid_id","question"]),
 "ClarificationAnswer": obj({"answer": s}),
 "ReplacementStart": obj({"member_no": i, "reason": s, "void_signed_report": b}, ["member_no","reason"]),
})

# The result (issue 5): report delivery, candidate publicity, objections, award, contract.
paths.update({
 "/api/v1/tenders/{code}/evaluation/report/deliver": {"post": op("The owning agent delivers the signed report and closes signing; silent members are deemed to agree once every member acted or an hour after the ranking (实施条例 第53条)", "result", params=["code"])},
 "/api/v1/tenders/{code}/result": {"get": op("The result as the caller may see it: publicity with candidates, objections (texts to the objector, agent and regulators only), award, contract", "result", params=["code"], auth=False)},
 "/api/v1/tenders/{code}/publicity": {"post": op("Publish the candidates from now until ends_at: within 3 days of the report, at least 3 days (实施条例 第54条)", "result", "PublicityInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/result-objections": {"post": op("A bidder of the tender objects to the result during the publicity (实施条例 第54条)", "result", "TextInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/result-objections/{id}/answer": {"post": op("The owning agent answers an objection in writing (due within 3 days; a late answer is recorded and flagged)", "result", "TextInput", params=["code", "id"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/award": {"post": op("Award notice (中标通知书) after the publicity with every objection answered; the first candidate unless another is chosen with a reason; reveals the expert draws", "result", "AwardInput", params=["code"], status="201", ok="Created")},
 "/api/v1/tenders/{code}/contract": {"post": op("Record the signed contract within 30 days of the award (招标投标法 第46条)", "result", "ContractInput", params=["code"], status="201", ok="Created")},
})
schemas.update({
 "PublicityInput": obj({"ends_at": {"type": "string", "format": "date-time"}}, ["ends_at"]),
 "TextInput": obj({"text": s}, ["text"]),
 "AwardInput": obj({"bid_id": s, "reason": s}),
 "ContractInput": obj({"signed_at": {"type": "string", "format": "date-time"}, "amount_fen": i, "document_sha256": s}, ["signed_at", "amount_fen"]),
})

# The evaluation report as documents (src/evaluation/report_routes.rs, docs/evaluation.md
# "The report document"): committee, owning agent, operators and regulators only.
def report_op(summary, content_type, schema, extra=None):
    o = op(summary, "evaluation", params=["code"])
    o["responses"]["200"]["content"] = {content_type: {"schema": schema}}
    o["responses"]["401"] = {**err, "description": "Not logged in"}
    o["responses"]["403"] = {**err, "description": "Not on the committee, not the owning agent, an operator or a regulator"}
    o["responses"]["404"] = {**err, "description": "Unknown tender"}
    o["responses"]["409"] = {**err, "description": "REPORT_NOT_READY: the report is written when every member's scores are in"}
    if extra: o["responses"].update(extra)
    return o
paths.update({
 "/api/v1/tenders/{code}/evaluation/report": {"get": {**report_op("The evaluation report (评标报告) exactly as stored and signed: canonical JSON whose SHA-256 (also in the X-Report-SHA256 header) is the challenge each member signs; until the award, the agent and operators get a copy with member pseudonyms and no sheet digests or salt (X-Report-Redacted: members, no X-Report-SHA256)", "application/json", {"type": "object"})}},
 "/api/v1/tenders/{code}/evaluation/report.html": {"get": report_op("The report as a self-contained, printable bilingual HTML document: committee, preliminary review with fail reasons, every member's score per criterion per bid, price scores, aggregation, totals, ranking (≤ 3 candidates), each member's signature status and the signed SHA-256", "text/html", {"type": "string"})},
 "/api/v1/tenders/{code}/evaluation/report.pdf": {"get": report_op("The same report as PDF (A4 landscape, embedded CJK font subset)", "application/pdf", {"type": "string", "format": "binary"},
     {"503": {**err, "description": "REPORT_FONT_MISSING: no CJK font; set report_font (SUNBID_REPORT_FONT) or install fonts-wqy-microhei"}})},
})

doc = {"openapi": "3.1.0",
 "info": {"title": "Sunbid API", "version": "0.1.0", "description": "Public-resource trading platform. Money is integer fen; times are RFC 3339 UTC. Every error body is {code, message}."},
 "servers": [{"url": "/"}],
 "security": [{"bearer": []}],
 "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"}}, "schemas": schemas},
 "paths": paths}
open(__import__("os").path.join(__import__("os").path.dirname(__file__), "../src/http/openapi.json"),"w").write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
