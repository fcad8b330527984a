using InsideLLMs.Distributed.Maths.Data;

namespace InsideLLMs.Distributed.Tests.Data;

public sealed class PreferenceRuleTests
{
    private readonly PreferenceRule _rule = PreferenceRule.Default;

    [Fact]
    public void Rank_CompletionsWithOneFlawEach_PutsTheConsistentOneFirst()
    {
        const string prompt = " the dogs ran to the river.";
        string[] completions =
        [
            " then the cat was happy.",                                             // forgets the entity
            " then the dogs went to the bank and counted the coins.",               // wrong sense of bank
            " then the dogs went to the bank and watched the water.",               // right
            " then the dogs was happy and the dogs was sad.",                       // agreement, twice
            " dogs",                                                                // too short
        ];
        var order = _rule.Rank(prompt, completions);
        Assert.Equal(2, order[0]);
        Assert.Equal(3, order[^1]);
        Assert.True(_rule.Score(prompt, completions[4]) < _rule.Score(prompt, " then they were happy."));
        Assert.True(_rule.Score(prompt, completions[2]) > _rule.Score(prompt, completions[1]));
        Assert.True(_rule.Score(prompt, completions[2]) > _rule.Score(prompt, completions[0]));
        Assert.True(_rule.Score(prompt, " then they were happy.") > _rule.Score(prompt, completions[3]));
    }

    [Fact]
    public void Score_MoneyContext_PrefersMoneySenseOfBank()
    {
        const string prompt = " Anna found some money in the park.";
        var money = _rule.Score(prompt, " later she went to the bank and paid the loan.");
        var river = _rule.Score(prompt, " later she went to the bank and caught a fish.");
        Assert.True(money > river, $"{money} <= {river}");
    }

    [Fact]
    public void Score_RecallByName_BeatsPronounBeatsForgetting()
    {
        const string prompt = " Tom walked to the market.";
        var name = _rule.Score(prompt, " later Tom was happy again.");
        var pronoun = _rule.Score(prompt, " later he was happy again.");
        var forgotten = _rule.Score(prompt, " later Anna was happy again.");
        Assert.True(name > pronoun && pronoun > forgotten, $"{name}, {pronoun}, {forgotten}");
    }

    [Fact]
    public void Rank_SameInputs_SameOrderAndTiesKeepInputOrder()
    {
        string[] completions = [" then it was calm.", " then it was sad.", " then it was calm."];
        var first = _rule.Rank(" the cat walked to the farm.", completions);
        Assert.Equal(first, _rule.Rank(" the cat walked to the farm.", completions));
        Assert.Equal([0, 1, 2], first);
    }
}
