namespace InsideLLMs.Distributed.Contracts.Training;

[GenerateSerializer, Alias("RunPhase")]
public enum RunPhase
{
    NotStarted = 0,
    Starting = 1,
    Running = 2,
    Recovering = 3,
    Completed = 4,
    Stopped = 5,
    Failed = 6,
}
