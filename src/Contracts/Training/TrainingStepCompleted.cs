namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>Published on the bus after every step of every run.</summary>
public sealed record TrainingStepCompleted(string RunId, StepMetrics Metrics);
