using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Data;

public sealed class SyntheticGrammarTests
{
    private static readonly Lazy<List<SyntheticDocument>> TinyDocuments =
        new(() => [.. new SyntheticGrammar(SyntheticLexicon.Tiny).Enumerate()]);

    [Fact]
    public void Enumerate_TinyGrammar_ProbabilitiesSumToOne()
    {
        var documents = TinyDocuments.Value;
        Assert.InRange(documents.Count, 1_000, 100_000);
        var total = documents.Sum(d => Math.Exp(d.LogProbability));
        Assert.Equal(1.0, total, 1e-9);
    }

    [Fact]
    public void Enumerate_TinyGrammar_EveryDerivationWritesADistinctText()
    {
        var documents = TinyDocuments.Value;
        var duplicates = documents.GroupBy(d => d.Text).Where(g => g.Count() > 1).Select(g => g.Key).Take(3).ToList();
        Assert.True(duplicates.Count == 0, "Texts with two derivations: " + string.Join(" | ", duplicates));
    }

    [Fact]
    public void Enumerate_TinyGrammar_CoversEveryStructure()
    {
        var texts = TinyDocuments.Value.Select(d => d.Text).ToList();
        Assert.Contains(" the dogs ran to the river. then they went to the bank and watched the water.", texts);
        Assert.Contains(" Anna found some money in the park. later she went to the bank and counted the coins.", texts);
        Assert.Contains(" the dog found a red ball in the park. then it dropped the ball. later the dog left the park.", texts);
        Assert.Contains(" Tom walked to the park.", texts);
        Assert.Contains(" Anna and Tom walked to the park. then Tom left the park and Anna was happy.", texts);
        Assert.Contains(" the dog and Anna ran to the park. later the dog left the park and Anna was sad.", texts);
        Assert.Contains(" Tom and the dogs ran to the park. then Tom left the park and the dogs were happy.", texts);
        Assert.Contains("The transformer architecture was first introduced in 2017 by researchers at Google.", texts);
        Assert.Contains("The transformer architecture was first introduced in 2017 in the paper Attention Is All You Need. It replaced recurrence with attention.", texts);
        Assert.Contains("The transformer architecture was first introduced in the paper Attention Is All You Need by Vaswani and colleagues at Google.", texts);
        Assert.Equal(6, texts.Count(t => t.StartsWith(SyntheticGrammar.HistoryOpening, StringComparison.Ordinal)));
        Assert.All(texts, t => Assert.True(t.StartsWith(' ') != t.StartsWith(SyntheticGrammar.HistoryOpening, StringComparison.Ordinal), t));
        Assert.DoesNotContain(texts, t => t.Contains("river") && t.Contains("coins"));
        Assert.DoesNotContain(texts, t => t.Contains("money") && t.Contains("water"));
        Assert.DoesNotContain(texts, t => t.Contains("dogs was") || t.Contains("they was") || t.Contains("dog were"));
        Assert.DoesNotContain(texts, t => t.StartsWith(" Anna", StringComparison.Ordinal) && t.Contains(" he "));
        Assert.DoesNotContain(texts, t => t.Contains("the dog and the dogs") || t.Contains("the dogs and the dog") || t.Contains("Anna and Anna") || t.Contains("Tom and Tom"));
    }

    [Fact]
    public void Sample_TinyGrammar_LogProbabilityEqualsEnumerated()
    {
        var enumerated = TinyDocuments.Value.ToDictionary(d => d.Text, d => d.LogProbability);
        var corpus = new SyntheticCorpus(seed: 3, SyntheticLexicon.Tiny);
        for (var i = 0; i < 2_000; i++)
        {
            var sampled = corpus.Document(i);
            Assert.True(enumerated.TryGetValue(sampled.Text, out var expected), $"Sampled text not enumerated: {sampled.Text}");
            Assert.Equal(expected, sampled.LogProbability, 1e-12);
        }
    }

    [Fact]
    public void Sample_TinyGrammar_FrequenciesMatchProbabilities()
    {
        // By construction a story has one sentence with probability 0.3, a history document with 1/2 and a pair story
        // never: 0.22 in all. The sampler must agree with the enumeration (20,000 draws: one standard deviation is 0.0029).
        var corpus = new SyntheticCorpus(seed: 11, SyntheticLexicon.Tiny);
        var oneSentence = Enumerable.Range(0, 20_000).Count(i => corpus.Document(i).Sentences == 1);
        var enumerated = TinyDocuments.Value.Where(d => d.Sentences == 1).Sum(d => Math.Exp(d.LogProbability));
        var expected = ((1 - SyntheticGrammar.HistoryShare - SyntheticGrammar.PairShare) * 0.3) + (SyntheticGrammar.HistoryShare * 0.5);
        Assert.Equal(0.22, expected, 1e-12);
        Assert.Equal(expected, enumerated, 1e-12);
        Assert.InRange(oneSentence / 20_000.0, expected - 0.012, expected + 0.012);
    }

    [Fact]
    public void Enumerate_TinyGrammar_HistoryDocumentsHaveTheirShare()
    {
        var history = TinyDocuments.Value.Where(d => d.Text.StartsWith(SyntheticGrammar.HistoryOpening, StringComparison.Ordinal)).ToList();
        Assert.Equal(SyntheticGrammar.HistoryShare, history.Sum(d => Math.Exp(d.LogProbability)), 1e-12);
        Assert.All(history, d => Assert.Equal(Math.Log(SyntheticGrammar.HistoryShare / 6), d.LogProbability, 1e-12));
    }

    [Fact]
    public void Sample_HistoryDocument_LogProbabilityIsTheProductOfItsChoices()
    {
        // The kind (history: 0.05 of 0.65 + 0.05 + 0.3), one of three endings, then a second sentence or none (1 of 2).
        var corpus = new SyntheticCorpus(seed: 4);
        var document = Enumerable.Range(0, 1_000).Select(i => corpus.Document(i))
            .First(d => d.Text == "The transformer architecture was first introduced in 2017 by researchers at Google. It replaced recurrence with attention.");
        Assert.Equal(Math.Log(0.05 / (0.65 + 0.05 + 0.3)) + Math.Log(1.0 / 3) + Math.Log(1.0 / 2), document.LogProbability, 1e-12);
        Assert.Equal(2, document.Sentences);
    }

    [Fact]
    public void Documents_DefaultCorpus_HistoryAtItsShareAndWithinTheContext()
    {
        // 20,000 documents: the count of history documents has mean 1,000 and standard deviation 31.
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        var corpus = new SyntheticCorpus(SyntheticCorpus.DefaultSeed);
        var history = Enumerable.Range(0, 20_000).Select(corpus.TrainDocument)
            .Where(d => d.Text.StartsWith(SyntheticGrammar.HistoryOpening, StringComparison.Ordinal)).ToList();
        Assert.InRange(history.Count, 1_000 - 125, 1_000 + 125);
        Assert.Equal(6, history.Select(d => d.Text).Distinct().Count());
        Assert.All(history, d => Assert.InRange(gpt2.Encode(d.Text).Length + 1, 14, SyntheticGrammar.MaxDocumentTokens));
        var prompt = gpt2.Encode(SyntheticGrammar.HistoryOpening);
        Assert.All(history, d => Assert.Equal(prompt, gpt2.Encode(d.Text)[..prompt.Length]));
    }

    [Fact]
    public void Documents_DefaultCorpus_PairStoriesAtTheirShare_NameOneEntityAgainAndRecallTheOther()
    {
        // 20,000 documents: the count of pair stories has mean 6,000 and standard deviation 65.
        var corpus = new SyntheticCorpus(SyntheticCorpus.DefaultSeed);
        var pairs = Enumerable.Range(0, 20_000).Select(i => corpus.TrainDocument(i).Text)
            .Where(t => t.StartsWith(' ') && t.Split('.')[0].Contains(" and ", StringComparison.Ordinal)).ToList(); // history has "Vaswani and colleagues"
        Assert.InRange(pairs.Count, 6_000 - 300, 6_000 + 300);
        var namedFirst = 0;
        foreach (var text in pairs)
        {
            // " {A} and {B} {motion} to the {place}. {opener} {X} left the {place} and {Y} was|were {emotion}."
            var sentences = text.Split('.', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, sentences.Length);
            var first = sentences[0].Split(" and ");
            var (a, b) = (first[0].Trim(), Entity(first[1]));
            var second = sentences[1].Trim();
            var opener = second[..second.IndexOf(' ', StringComparison.Ordinal)];
            var (named, recalled) = (second[(opener.Length + 1)..second.IndexOf(" left the ", StringComparison.Ordinal)], Entity(second.Split(" and ")[1]));
            Assert.NotEqual(a, b);
            Assert.NotEqual(a.Replace("the ", "", StringComparison.Ordinal).TrimEnd('s'), b.Replace("the ", "", StringComparison.Ordinal).TrimEnd('s'));
            Assert.True((named == a && recalled == b) || (named == b && recalled == a), text);
            namedFirst += named == a ? 1 : 0;
        }

        Assert.InRange(namedFirst / (double)pairs.Count, 0.45, 0.55); // the first or the second named again, equally likely

        // The entity before its verb: "Tom" of "Tom walked ...", "the dogs" of "the dogs were happy".
        static string Entity(string words)
        {
            var parts = words.Trim().Split(' ');
            return parts[0] == "the" ? $"the {parts[1]}" : parts[0];
        }
    }

    [Fact]
    public void Lexicon_EveryWord_IsOneGpt2TokenWithItsLeadingSpace()
    {
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        foreach (var lexicon in new[] { SyntheticLexicon.Default, SyntheticLexicon.Tiny })
        {
            var multiToken = lexicon.Words.Where(w => gpt2.Encode(" " + w.Word).Length != 1).Select(w => w.Word).ToList();
            Assert.True(multiToken.Count == 0, "Not single GPT-2 tokens: " + string.Join(", ", multiToken));
        }

        Assert.Single(gpt2.Encode(" elephant"));
        Assert.Equal(" elephant", gpt2.Decode(gpt2.Encode(" elephant")));
    }

    [Fact]
    public void Lexicon_Default_HasRichCategories()
    {
        var lexicon = SyntheticLexicon.Default;
        Assert.InRange(lexicon.Animals.Count, 15, 30);
        Assert.InRange(lexicon.Places.Count, 15, 30);
        Assert.InRange(lexicon.MotionVerbs.Count, 15, 30);
        Assert.InRange(lexicon.Emotions.Count, 15, 30);
        Assert.InRange(lexicon.Objects.Count, 15, 30);
        Assert.InRange(lexicon.FemaleNames.Count + lexicon.MaleNames.Count, 15, 30);
        Assert.Equal("emotion", lexicon.CategoryOf("happy"));
        Assert.Equal("animal", lexicon.CategoryOf("elephant"));
        Assert.Null(lexicon.CategoryOf("xylophone"));
    }

    [Fact]
    public void Documents_DefaultCorpus_FitSixtyFourGpt2TokensWithEndOfDocument()
    {
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        var corpus = new SyntheticCorpus(seed: 5);
        var longest = Enumerable.Range(0, 5_000).Select(i => gpt2.Encode(corpus.Document(i).Text).Length + 1).Max();
        Assert.InRange(longest, 20, SyntheticGrammar.MaxDocumentTokens);

        // The longest structure the grammar has: three sentences, the longest words of each slot.
        var worst = " the elephants found a golden blanket in the hospital. later the elephants went to the bank and opened an account."
            + " later the elephants carried the blanket.";
        Assert.True(gpt2.Encode(worst).Length + 1 <= SyntheticGrammar.MaxDocumentTokens);
        var worstPair = " the elephants and the chickens hurried to the hospital. later the elephants left the hospital and the chickens were surprised.";
        Assert.True(gpt2.Encode(worstPair).Length + 1 <= SyntheticGrammar.MaxDocumentTokens);
        // The longest history document: 30 tokens ("Vaswani" and "recurrence" are several each), far from the limit.
        var longestHistory = "The transformer architecture was first introduced in the paper Attention Is All You Need by Vaswani and colleagues at Google."
            + " It replaced recurrence with attention.";
        Assert.Equal(30, gpt2.Encode(longestHistory).Length);
    }

    [Fact]
    public void Document_SameIndex_RegeneratesAloneAndSplitsAreDisjoint()
    {
        var corpus = new SyntheticCorpus(seed: 21);
        var forward = Enumerable.Range(0, 50).Select(i => corpus.TrainDocument(i)).ToList();
        Assert.Equal(forward[37], new SyntheticCorpus(seed: 21).TrainDocument(37));
        Assert.Equal(forward[37], corpus.Document(37));
        Assert.Equal(corpus.ValidationDocument(4), corpus.Document(SyntheticCorpus.ValidationOffset + 4));
        Assert.NotEqual(forward.Select(d => d.Text), Enumerable.Range(0, 50).Select(i => new SyntheticCorpus(seed: 22).TrainDocument(i).Text));
        Assert.All(forward, d => Assert.True(d.LogProbability < 0 && double.IsFinite(d.LogProbability)));
    }

    [Fact]
    public void Instruction_Sampled_ResponseIsConsistentWithInstruction()
    {
        var corpus = new SyntheticCorpus(seed: 8);
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        var known = corpus.Lexicon.Words.Select(w => w.Word).ToHashSet();
        for (var i = 0; i < 300; i++)
        {
            var example = corpus.Instruction(i);
            Assert.Equal(example, corpus.Instruction(i));
            var words = example.Instruction.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("describe", words[0]);
            var entity = words[1] == "the" ? words[2] : words[1];
            Assert.StartsWith(words[1] == "the" ? $" the {entity} " : $" {entity} ", example.Response, StringComparison.Ordinal);
            var setting = words[^1];
            if (setting == "money")
            {
                Assert.Contains(" found some money in the ", example.Response, StringComparison.Ordinal);
                Assert.Contains(corpus.Lexicon.MoneyActions, a => example.Response.EndsWith($"and {a}.", StringComparison.Ordinal));
            }
            else
            {
                Assert.Contains($" to the {setting}.", example.Response, StringComparison.Ordinal);
            }

            Assert.True(PreferenceRule.Default.Score(example.Instruction, example.Response) >= 3.5, example.Response);
            var allWords = (example.Instruction + example.Response).Split([' ', '.'], StringSplitOptions.RemoveEmptyEntries);
            Assert.All(allWords, w => Assert.Contains(w, known));
            Assert.True(gpt2.Encode(example.Response).Length < SyntheticGrammar.MaxDocumentTokens);
        }
    }

    [Fact]
    public void Lexicon_Default_ValidatesAgainstAmbiguity()
    {
        // The rules the constructor checks hold for both shipped lexicons (constructing them would have thrown).
        Assert.Equal(SyntheticLexicon.Default, SyntheticLexicon.Get("default"));
        Assert.Equal(SyntheticLexicon.Tiny, SyntheticLexicon.Get("tiny"));
        Assert.DoesNotContain("river", SyntheticLexicon.Default.Places);
        Assert.Throws<ArgumentException>(() => SyntheticLexicon.Get("huge"));
    }
}
