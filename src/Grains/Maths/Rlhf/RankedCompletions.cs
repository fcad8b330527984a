namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// One ranking as the reward model learns from it: a prompt (an instruction), its K completions as the task numbers
/// them, and an annotator's order (completion indices, best first).
/// </summary>
public sealed record RankedCompletions(string Id, string Prompt, IReadOnlyList<string> Completions, IReadOnlyList<int> Order)
{
    /// <summary>Where completion <paramref name="completion"/> stands in the order: 0 for the best.</summary>
    public int PlaceOf(int completion)
    {
        for (var place = 0; place < Order.Count; place++)
        {
            if (Order[place] == completion)
            {
                return place;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(completion), completion, $"Ranking '{Id}' does not place completion {completion}.");
    }
}
