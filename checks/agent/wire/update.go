package wire

// PathUpdate is where the box sends an agent a firmware update: the
// request body is the firmware bundle file as it is (outpost bundle
// firmware), not JSON. The agent checks it against the MSP key set on
// the server, never one the box names, and answers an UpdateResult (200)
// or a refusal (403, RefusedUpdate) before restarting into it.
const PathUpdate = "/v1/update"

// RefusedUpdate is the refusal code of an update the agent will not
// install; the Error says why.
const RefusedUpdate = "update-refused"

// UpdateResult is the agent's answer to an update it installed: it
// restarts into To right after answering.
type UpdateResult struct {
	Result string `json:"result"` // "applied"
	From   string `json:"from"`
	To     string `json:"to"`
	// Window is how long the new version has to answer the box before
	// the agent goes back to From by itself.
	Window string `json:"window"`
}
