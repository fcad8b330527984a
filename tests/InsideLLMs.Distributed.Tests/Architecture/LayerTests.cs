using System.Reflection;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Model;
using NetArchTest.Rules;

namespace InsideLLMs.Distributed.Tests.Architecture;

/// <summary>
/// The walls between the projects, read from the compiled IL (signatures and method bodies alike):
/// the maths sees neither Orleans nor the contracts; the contracts see nothing above them; the client reaches the
/// cluster through the contracts only; the grains never call into a host. Each rule is also run once against an
/// assembly that breaks it, so a rule that could never fail would fail here.
/// </summary>
public sealed class LayerTests
{
    private const string Root = "InsideLLMs.Distributed";
    private const string MathsNamespace = Root + ".Maths";
    private const string ContractsNamespace = Root + ".Contracts";
    private const string GrainsNamespace = Root + ".Grains";
    private const string SiloNamespace = Root + ".Silo";
    private const string ClientNamespace = Root + ".Client";

    private static readonly Assembly Maths = typeof(GptConfig).Assembly;
    private static readonly Assembly Contracts = typeof(TrainingRunSpec).Assembly;
    private static readonly Assembly Grains = typeof(RunLayout).Assembly;
    private static readonly Assembly Client = typeof(Distributed.Client.Cli.CliApp).Assembly;
    private static readonly Assembly Silo = Assembly.Load(Root + ".Silo");

    [Fact]
    public void The_maths_uses_neither_Orleans_nor_the_contracts_nor_anything_above()
    {
        AssertHolds(NoDependency(Maths, "Orleans", ContractsNamespace, GrainsNamespace, SiloNamespace, ClientNamespace));
        AssertNoReferencedTypes(Maths, "Orleans", ContractsNamespace, GrainsNamespace, SiloNamespace, ClientNamespace);
        AssertOnlyReferences(Maths, forbidden: ["Orleans", ContractsNamespace, GrainsNamespace, SiloNamespace, ClientNamespace]);
    }

    [Fact]
    public void The_contracts_use_nothing_above_them()
    {
        AssertHolds(NoDependency(Contracts, GrainsNamespace, SiloNamespace, ClientNamespace));
        AssertNoReferencedTypes(Contracts, GrainsNamespace, SiloNamespace, ClientNamespace);
        AssertOnlyReferences(Contracts, forbidden: [GrainsNamespace, SiloNamespace, ClientNamespace, "Orleans.Runtime"]);
    }

    [Fact]
    public void The_client_does_not_use_the_grains_or_the_silo()
    {
        AssertHolds(NoDependency(Client, GrainsNamespace, SiloNamespace));
        AssertNoReferencedTypes(Client, GrainsNamespace, SiloNamespace);
        AssertOnlyReferences(Client, forbidden: [GrainsNamespace, SiloNamespace, "Orleans.Runtime", "Orleans.Server"]);
    }

    [Fact]
    public void The_grains_do_not_use_a_host()
    {
        AssertHolds(NoDependency(Grains, SiloNamespace, ClientNamespace));
        AssertNoReferencedTypes(Grains, SiloNamespace, ClientNamespace);
        AssertOnlyReferences(Grains, forbidden: [SiloNamespace, ClientNamespace]);
    }

    [Fact]
    public void The_maths_folders_each_have_their_own_namespace()
    {
        // A newcomer learns what a room holds from its name: every maths type sits in one of these.
        string[] rooms = ["Data", "Inspection", "Model", "Objectives", "Optimization", "Pipeline", "Rlhf", "Sampling", "Tokenization", "Training"];
        var strays = Maths.GetTypes()
            .Where(t => t.Namespace is not null && !t.Namespace.StartsWith("System", StringComparison.Ordinal) && !t.Namespace.StartsWith("Microsoft", StringComparison.Ordinal))
            .Where(t => !rooms.Any(r => t.Namespace == $"{MathsNamespace}.{r}"))
            .Select(t => t.FullName)
            .ToArray();
        Assert.Empty(strays);
    }

    [Fact]
    public void Each_rule_fails_on_an_assembly_that_breaks_it()
    {
        // The grains use Orleans and the contracts; the silo uses the grains; the tests use the client.
        Assert.False(NoDependency(Grains, "Orleans").IsSuccessful);
        Assert.False(NoDependency(Grains, ContractsNamespace).IsSuccessful);
        Assert.False(NoDependency(Grains, MathsNamespace).IsSuccessful);
        Assert.False(NoDependency(Silo, GrainsNamespace).IsSuccessful);
        Assert.False(NoDependency(typeof(LayerTests).Assembly, ClientNamespace).IsSuccessful);
        Assert.NotEmpty(ReferencedTypes(Grains, ["Orleans", ContractsNamespace, MathsNamespace]));
        Assert.NotEmpty(ReferencedTypes(Silo, [GrainsNamespace]));
        Assert.Contains(Grains.GetReferencedAssemblies(), a => a.Name!.StartsWith("Orleans", StringComparison.Ordinal));
        Assert.Contains(Silo.GetReferencedAssemblies(), a => a.Name == Grains.GetName().Name);
    }

    /// <summary>
    /// Every type of the assembly, the compiler's nested ones included: a lambda's or an async method's body lives in a
    /// generated nested type that has no namespace of its own, so a namespace filter would let it through.
    /// </summary>
    private static TestResult NoDependency(Assembly assembly, params string[] forbidden) =>
        Types.InAssembly(assembly).ShouldNot().HaveDependencyOnAny(forbidden).GetResult();

    private static void AssertHolds(TestResult result) =>
        Assert.True(result.IsSuccessful, "Types that break the rule: " + string.Join(", ", result.FailingTypeNames ?? []));

    /// <summary>
    /// Every type the assembly's IL refers to, from its metadata's type-reference table. NetArchTest names the
    /// offending type but skips the compiler's nested types (seen here: a grain call inside a command's async lambda
    /// passed its rule); this table has a row for every external type used anywhere, so nothing slips through.
    /// </summary>
    private static string[] ReferencedTypes(Assembly assembly, string[] forbidden)
    {
        using var module = Mono.Cecil.ModuleDefinition.ReadModule(assembly.Location);
        return [.. module.GetTypeReferences()
            .Select(t => t.FullName)
            .Where(name => forbidden.Any(f => name.StartsWith(f, StringComparison.Ordinal)))
            .Distinct()
            .Order(StringComparer.Ordinal)];
    }

    private static void AssertNoReferencedTypes(Assembly assembly, params string[] forbidden)
    {
        var used = ReferencedTypes(assembly, forbidden);
        Assert.True(used.Length == 0, $"{assembly.GetName().Name} uses {string.Join(", ", used)}");
    }

    /// <summary>The compiler drops unused references, so what remains is what the assembly really needs.</summary>
    private static void AssertOnlyReferences(Assembly assembly, string[] forbidden)
    {
        var bad = assembly.GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(name => forbidden.Any(f => name == f || name.StartsWith(f + ".", StringComparison.Ordinal) || (f == "Orleans" && name.StartsWith("Orleans", StringComparison.Ordinal))))
            .ToArray();
        Assert.True(bad.Length == 0, $"{assembly.GetName().Name} references {string.Join(", ", bad)}");
    }
}
