"""Traffic without instrumenting clients: OpenAI's organisation Usage API imported on a schedule."""
