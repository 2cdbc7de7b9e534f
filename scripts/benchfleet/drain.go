package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// drain waits until nothing runs any more on the bench's own dev server: after the fleet,
// the object locks and the setting keepers end too, and a keeper stopped while it holds
// MariaDB's userstat would leave it switched on for the server's other users.
func drain(limit time.Duration) error {
	addr := envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233")
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: envOr("TEMPORAL_NAMESPACE", "default"), Logger: quietLogger{}})
	if err != nil {
		return fmt.Errorf("cannot reach Temporal at %s: %w", addr, err)
	}
	defer c.Close()
	began := time.Now()
	var left []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "ExecutionStatus = 'Running'", PageSize: 1000})
		cancel()
		if err != nil {
			return err
		}
		left = left[:0]
		for _, e := range resp.GetExecutions() {
			left = append(left, e.GetType().GetName()+" "+e.GetExecution().GetWorkflowId())
		}
		if len(left) == 0 {
			if time.Since(began) > 2*time.Second {
				fmt.Printf("every workflow of the bench's dev server ended (after %.0f s)\n", time.Since(began).Seconds())
			}
			return nil
		}
		if time.Since(began) > limit {
			fmt.Fprintf(os.Stderr, "bench-fleet: after %s, %d workflow(s) still run on the bench's dev server and stop with it: %s\n",
				limit, len(left), strings.Join(left[:min(len(left), 10)], ", "))
			return nil
		}
		time.Sleep(time.Second)
	}
}
