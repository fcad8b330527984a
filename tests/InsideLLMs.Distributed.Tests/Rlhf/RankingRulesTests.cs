using InsideLLMs.Distributed.Client.Commands;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Rlhf;

namespace InsideLLMs.Distributed.Tests.Rlhf;

public sealed class RankingRulesTests
{
    [Theory]
    [InlineData(new[] { 0, 1, 2 }, "The task has 4 completions but the order [0, 1, 2] lists 3; list each of 0 to 3 once, best first.")]
    [InlineData(new[] { 0, 1, 2, 3, 0 }, "The task has 4 completions but the order [0, 1, 2, 3, 0] lists 5; list each of 0 to 3 once, best first.")]
    [InlineData(new[] { 0, 1, 1, 3 }, "The order [0, 1, 1, 3] lists completion 1 twice: it must be a permutation of 0 to 3.")]
    [InlineData(new[] { 0, 1, 2, 4 }, "The order [0, 1, 2, 4] has 4, which is not a completion: they are numbered 0 to 3.")]
    [InlineData(new[] { -1, 1, 2, 3 }, "The order [-1, 1, 2, 3] has -1, which is not a completion: they are numbered 0 to 3.")]
    public void CheckOrder_NotAPermutationOfK_SaysWhatIsWrong(int[] order, string message) =>
        Assert.Equal(message, Assert.Throws<ArgumentException>(() => RankingRules.CheckOrder(order, 4)).Message);

    [Fact]
    public void CheckOrder_APermutation_IsAccepted() => Assert.Equal([2, 0, 3, 1], RankingRules.CheckOrder([2, 0, 3, 1], 4));

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    public void CheckCompletionCount_OutsideTwoToNine_IsRefused(int k) =>
        Assert.Equal($"A ranking task has from 2 to 9 completions; got {k}.", Assert.Throws<ArgumentException>(() => RankingRules.CheckCompletionCount(k)).Message);

    [Theory]
    [InlineData("", "A ranking needs an annotator id (letters, digits and . _ - @).")]
    [InlineData("ann lee", "An annotator id has only letters, digits and . _ - @; 'ann lee' has ' '.")]
    [InlineData("a/../b", "An annotator id has only letters, digits and . _ - @; 'a/../b' has '/'.")]
    public void CheckAnnotator_BadIds_AreRefusedNamingTheCharacter(string id, string message) =>
        Assert.Equal(message, Assert.Throws<ArgumentException>(() => RankingRules.CheckAnnotator(id)).Message);

    [Fact]
    public void CheckAnnotator_LongerThan64_IsRefused() =>
        Assert.Equal("An annotator id has at most 64 characters; got 65.", Assert.Throws<ArgumentException>(() => RankingRules.CheckAnnotator(new string('a', 65))).Message);

    [Fact]
    public void PairwiseAgreement_CountsThePairsOrderedAlike()
    {
        Assert.Equal(1.0, RankingRules.PairwiseAgreement([0, 1, 2, 3], [0, 1, 2, 3]));
        Assert.Equal(0.0, RankingRules.PairwiseAgreement([0, 1, 2, 3], [3, 2, 1, 0]));
        // [1, 0, 2, 3] swaps one of the six pairs (0 before 1): 5 of 6 alike.
        Assert.Equal(5.0 / 6, RankingRules.PairwiseAgreement([0, 1, 2, 3], [1, 0, 2, 3]), 12);
    }

    [Fact]
    public void Agreement_IsTheMeanOverAnnotatorPairs_NullForOne()
    {
        Assert.Null(RankingRules.Agreement([[0, 1, 2]]));
        // Pairs: (a,b) 1, (a,c) 0, (b,c) 0 -> 1/3.
        Assert.Equal(1.0 / 3, RankingRules.Agreement([[0, 1, 2], [0, 1, 2], [2, 1, 0]])!.Value, 12);
    }

    [Fact]
    public void SimulatedAnnotator_NoiseFree_RanksByThePreferenceRule_AndIsDeterministic()
    {
        var annotator = new SimulatedAnnotator(PreferenceRule.Default, noise: 0, seed: 1);
        const string prompt = " describe the dog at the river";
        string[] completions = [" the dog ran.", " the dog ran to the river. then it went to the bank and watched the water.", " the cat were sad", " the dog went to the river and it was happy."];

        var order = annotator.Rank("task-1", prompt, completions);

        Assert.Equal(PreferenceRule.Default.Rank(prompt, completions), order);
        Assert.Equal(order, annotator.Rank("task-1", prompt, completions));
    }

    [Fact]
    public void SimulatedAnnotator_TwentyPercentNoise_AgreesWithTheRuleOnAboutNinetyPercentOfPairs()
    {
        var noisy = new SimulatedAnnotator(PreferenceRule.Default, noise: 0.2, seed: 7);
        string[] completions = [" a b c d e f.", " the dog", " the dog went to the river.", " the dog were at the bank and went home and then slept."];
        var truth = PreferenceRule.Default.Rank(" describe the dog at the river", completions);

        var agreement = Enumerable.Range(0, 4000)
            .Average(i => RankingRules.PairwiseAgreement(truth, noisy.Rank($"task-{i}", " describe the dog at the river", completions)));

        Assert.InRange(agreement, 0.88, 0.92); // 0.8 + 0.2 x 0.5 = 0.9; 4000 draws: standard error ~0.004
        Assert.Throws<ArgumentException>(() => new SimulatedAnnotator(PreferenceRule.Default, noise: 1.5, seed: 1));
    }

    [Theory]
    [InlineData("2 1 4 3", new[] { 1, 0, 3, 2 })]
    [InlineData("2,1,4,3", new[] { 1, 0, 3, 2 })]
    [InlineData(" 4 > 3 > 2 > 1 ", new[] { 3, 2, 1, 0 })]
    public void ParseOrder_NumbersAsShownFromOne_BecomeTheZeroBasedOrder(string text, int[] order)
    {
        var parsed = RankCommand.ParseOrder(text, 4);

        Assert.Null(parsed.Error);
        Assert.Equal(order, parsed.Order);
    }

    [Theory]
    [InlineData("2 1 4", "Type each of the numbers 1 to 4 once, best first; got '2 1 4'.")]
    [InlineData("2 1 4 4", "Type each of the numbers 1 to 4 once, best first; got '2 1 4 4'.")]
    [InlineData("two 1 4 3", "'two' is not a completion number: type the numbers 1 to 4, best first.")]
    public void ParseOrder_BadText_SaysWhatToType(string text, string error) => Assert.Equal(error, RankCommand.ParseOrder(text, 4).Error);
}
