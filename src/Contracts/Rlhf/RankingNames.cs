namespace InsideLLMs.Distributed.Contracts.Rlhf;

public static class RankingNames
{
    /// <summary>The one ranking board of a cluster.</summary>
    public const string Board = "default";
}
