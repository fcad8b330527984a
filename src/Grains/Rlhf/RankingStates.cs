using InsideLLMs.Distributed.Contracts.Rlhf;

namespace InsideLLMs.Distributed.Grains.Rlhf;

[GenerateSerializer, Alias("RankingTaskState")]
public sealed class RankingTaskState
{
    [Id(0)] public RankingTaskInfo? Task { get; set; }

    /// <summary>Every acknowledged ranking, in the order they were stored.</summary>
    [Id(1)] public List<RankingReceipt> Rankings { get; set; } = [];
}

[GenerateSerializer, Alias("RankingBoardState")]
public sealed class RankingBoardState
{
    [Id(0)] public List<string> TaskIds { get; set; } = [];

    /// <summary>The next task's number: its prompt and its completions' seeds come from it.</summary>
    [Id(1)] public long NextTask { get; set; }
}
